"""Issue 16 item 9: the OAuth tokens are encrypted at rest with a key kept outside the database, the
key can be rotated, a lost or wrong key means "run `payroll connect` again", and the state folder
is its owner's only. Against the security suite's synced sandbox pipeline and real PostgreSQL,
through the `payroll` commands a user runs.
"""

from __future__ import annotations

import stat
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from pipelines.lib import encryption
from pipelines.lib.encryption import KeyRing, SecretKeyError, key_ring
from tests.support.pipeline import PAYROLL, differing, record_figure

pytestmark = pytest.mark.security

TOKENS = "select refresh_token, access_token from payroll_private.oauth_tokens"


def _payroll(pipeline, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`payroll <args>` in the pipeline's environment at the default log level (the suite syncs at DEBUG)."""
    return subprocess.run(
        [PAYROLL, *args],
        env={**pipeline.subprocess_env(), "PAYROLL_LOG_LEVEL": "", **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _ring(pipeline) -> KeyRing:
    with pipeline.active():
        return key_ring()


def _issued(secured) -> set[str]:
    identity = secured.sandbox.state.identity
    return set(identity.issued_tokens())


def _key_file(secured) -> Path:
    return Path(secured.pipeline.env["PAYROLL_HOME"]) / encryption.KEY_FILE


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _reconnect(pipeline, **env: str) -> None:
    out = _payroll(pipeline, "connect", "--auto-approve-sandbox", **env)
    assert out.returncode == 0 and "Connected" in out.stdout, out.stderr[-2000:]


def test_the_stored_tokens_are_encrypted_with_a_key_kept_outside_the_database(secured):
    pipeline = secured.pipeline
    ((refresh_token, access_token),) = pipeline.query(TOKENS)
    (row_text,) = pipeline.query("select t::text from payroll_private.oauth_tokens t")[0]
    assert refresh_token.startswith(encryption.PREFIX) and access_token.startswith(encryption.PREFIX)
    issued = _issued(secured)
    assert not [token for token in issued if token in row_text]
    ring = _ring(pipeline)
    assert ring.decrypt(refresh_token) in issued and ring.decrypt(access_token) in issued
    assert ring.source == str(_key_file(secured)) and _mode(_key_file(secured)) == 0o600
    assert not [key for key in ring.keys if key.decode() in row_text]


def test_the_state_folder_and_its_data_and_log_folders_are_its_owners_only(secured):
    home = Path(secured.pipeline.env["PAYROLL_HOME"])
    assert _mode(home) == 0o700
    folders = [home / name for name in ("dagster", "sandbox-erp") if (home / name).exists()]
    assert home / "dagster" in folders
    assert {folder.name: _mode(folder) for folder in folders} == {folder.name: 0o700 for folder in folders}
    assert _mode(_key_file(secured)) == 0o600
    readable = [
        str(path)
        for path in home.rglob("*")
        if not any(
            _mode(parent) & 0o077 == 0 for parent in (path, *path.parents) if parent.is_relative_to(home)
        )
    ]
    assert readable == [], "reachable by other users"


def test_plain_text_tokens_of_an_earlier_version_are_encrypted_on_first_use(secured):
    pipeline = secured.pipeline
    ring = _ring(pipeline)
    ((refresh_token, access_token),) = pipeline.query(TOKENS)
    plain = (ring.decrypt(refresh_token), ring.decrypt(access_token))
    pipeline.execute("update payroll_private.oauth_tokens set refresh_token = %s, access_token = %s", plain)
    before = pipeline.hashes()

    out = _payroll(pipeline, "doctor")

    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "REST token" in out.stdout
    ((refresh_token, access_token),) = pipeline.query(TOKENS)
    assert refresh_token.startswith(encryption.PREFIX) and access_token.startswith(encryption.PREFIX)
    assert ring.decrypt(refresh_token) in _issued(secured) and ring.decrypt(access_token) in _issued(secured)
    assert differing(pipeline.hashes(), before) == []


@pytest.mark.parametrize("how", ["key file lost", "another PAYROLL_SECRET_KEY"])
def test_a_lost_or_wrong_key_asks_to_connect_again_and_connect_repairs_it(secured, how):
    pipeline = secured.pipeline
    key_file = _key_file(secured)
    saved = key_file.read_bytes()
    env = {"PAYROLL_SECRET_KEY": Fernet.generate_key().decode()} if how != "key file lost" else {}
    if how == "key file lost":
        key_file.unlink()
    before = pipeline.hashes()
    try:
        started = time.monotonic()
        out = _payroll(pipeline, "sync", "--no-dbt", **env)
        seconds = time.monotonic() - started
        assert out.returncode == 1, out.stderr[-3000:]
        failed = [line for line in out.stderr.splitlines() if line.startswith("FAILED ")]
        source = "PAYROLL_SECRET_KEY" if env else str(key_file)
        assert (
            failed
            and "the stored Nmbrs tokens cannot be used: a stored secret does not open with the key"
            in failed[0]
        )
        assert f"of {source} (the key was lost or changed); run `payroll connect` again" in failed[0]
        assert "Traceback" not in out.stderr
        assert differing(pipeline.hashes(), before) == []

        _reconnect(pipeline, **env)
        assert _payroll(pipeline, "doctor", **env).returncode == 0
    finally:
        if how == "key file lost":
            assert key_file.exists() and _mode(key_file) == 0o600  # a new key, made on first use
        else:
            key_file.write_bytes(saved)
            _reconnect(pipeline)  # the tokens back under the key file
    record_figure(
        f"16_9_{how.replace(' ', '_')}", exit_code=out.returncode, seconds_to_refuse=round(seconds, 1)
    )


def test_rotating_the_key_file_reencrypts_every_token_and_retires_the_old_key(secured):
    pipeline = secured.pipeline
    old = _ring(pipeline)
    ((refresh_token, access_token),) = pipeline.query(TOKENS)
    plain = (old.decrypt(refresh_token), old.decrypt(access_token))

    started = time.monotonic()
    out = _payroll(pipeline, "secrets", "rotate-key")
    seconds = time.monotonic() - started

    assert out.returncode == 0, out.stderr[-2000:]
    assert "Rotated: 1 stored connection(s) re-encrypted with the new key" in out.stdout
    new = _ring(pipeline)
    assert len(new.keys) == 1 and new.keys[0] not in old.keys and _mode(_key_file(secured)) == 0o600
    ((rotated_refresh, rotated_access),) = pipeline.query(TOKENS)
    assert (new.decrypt(rotated_refresh), new.decrypt(rotated_access)) == plain
    with pytest.raises(SecretKeyError):
        old.decrypt(rotated_refresh)
    assert _payroll(pipeline, "doctor").returncode == 0
    record_figure("16_9_rotate_key_file", exit_code=out.returncode, connections=1, seconds=round(seconds, 1))


def test_rotating_to_a_new_payroll_secret_key(secured):
    pipeline = secured.pipeline
    current = _ring(pipeline).keys[0].decode()
    new = Fernet.generate_key().decode()

    single = _payroll(pipeline, "secrets", "rotate-key", PAYROLL_SECRET_KEY=current)
    assert single.returncode == 2
    assert "PAYROLL_SECRET_KEY holds one key, so there is nothing to rotate to" in single.stderr

    rotated = _payroll(pipeline, "secrets", "rotate-key", PAYROLL_SECRET_KEY=f"{new},{current}")
    assert rotated.returncode == 0, rotated.stderr[-2000:]
    assert _payroll(pipeline, "doctor", PAYROLL_SECRET_KEY=new).returncode == 0
    ((refresh_token, _),) = pipeline.query(TOKENS)
    with pytest.raises(SecretKeyError):
        KeyRing((current.encode(),), "the old key").decrypt(refresh_token)

    back = _payroll(pipeline, "secrets", "rotate-key", PAYROLL_SECRET_KEY=f"{current},{new}")
    assert back.returncode == 0, back.stderr[-2000:]
    assert _payroll(pipeline, "doctor").returncode == 0


def test_the_secrets_command_is_listed():
    out = subprocess.run([PAYROLL, "--help"], capture_output=True, text=True, check=True)
    assert "secrets" in out.stdout
    keys = subprocess.run([PAYROLL, "secrets", "generate-key"], capture_output=True, text=True, check=True)
    Fernet(keys.stdout.strip().encode())  # a valid key
