"""Issue 16 item 10 through `payroll sync` on the reference pipeline: a failed dbt build keeps its log
and prints where, a full disk is reported as "disk full" and where, and PAYROLL_LOG_LEVEL is checked.

Each asserts the exit code, the line the user sees, and that the warehouse is as before. The leak
test at PAYROLL_LOG_LEVEL=DEBUG is tests/security/test_leaks.py.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from pipelines.lib.diskfull import disk_full_message
from tests.support.pipeline import PAYROLL, differing, record_figure

pytestmark = pytest.mark.reliability

UNMAPPED_CODE = "9999"
# The marts the completeness check blocks: a failed build leaves them as they were.
FACT_MARTS = (
    "marts.fct_payroll_lines",
    "marts.payroll_gl_reconciliation",
    "marts.payroll_company_costs_monthly",
)


def _sync(reference, *args: str, env: dict[str, str] | None = None, wrap: list[str] | None = None):
    full_env = {**reference.pipeline.subprocess_env(), **(env or {})}
    return subprocess.run(
        [*(wrap or []), PAYROLL, "sync", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _failed_lines(out: subprocess.CompletedProcess) -> list[str]:
    return [line for line in out.stderr.splitlines() if line.startswith("FAILED ")]


def test_a_failed_dbt_build_keeps_its_log_and_the_summary_says_where(reference):
    """A wage component Nmbrs added that the mapping lacks fails dbt's completeness check: the summary
    names it and the kept dbt log, whose file exists (0600) after the run's target folder is gone."""
    pipeline = reference.pipeline
    pipeline.execute(
        "insert into nmbrs.wage_components select company_id, year, period, employee_id, %s, "
        "'Nieuwe toeslag', value, source, _loaded_at, _dagster_run_id, _source from nmbrs.wage_components "
        "where company_id = 101 order by year, period, employee_id, code limit 1",
        (UNMAPPED_CODE,),
    )
    try:
        started = time.monotonic()
        out = _sync(reference)
        seconds = time.monotonic() - started
        assert out.returncode == 1, out.stderr[-3000:]
        (line,) = _failed_lines(out)
        assert line.startswith(
            "FAILED ERP files + dbt build: dbt build failed: 1 wage component(s) have no GL"
        )
        assert f"company 101 code {UNMAPPED_CODE} (Nieuwe toeslag" in line
        kept = Path(line.rsplit("(dbt log: ", 1)[1].rstrip(")"))
        home = Path(pipeline.env["PAYROLL_HOME"])
        assert kept.parent == home / "logs" / "dbt" and kept.is_file()
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert (
            stat.S_IMODE(kept.parent.stat().st_mode)
            == stat.S_IMODE(kept.parent.parent.stat().st_mode)
            == 0o700
        )
        assert "wage_components_are_all_mapped" in kept.read_text(encoding="utf-8")
        assert "Traceback" not in out.stderr
        after = pipeline.hashes()
        assert {name: after[name] for name in FACT_MARTS} == {
            name: reference.hashes[name] for name in FACT_MARTS
        }
    finally:
        pipeline.execute("delete from nmbrs.wage_components where code = %s", (UNMAPPED_CODE,))
        restored = _sync(reference)
    assert restored.returncode == 0, restored.stderr[-3000:]
    assert differing(pipeline.hashes(), reference.hashes) == []
    record_figure("16_10_failed_dbt_log_kept", exit_code=out.returncode, seconds=round(seconds, 1))


def _private_mount() -> list[str] | None:
    """A command prefix that runs its child in a mount namespace of its own, or None if not allowed."""
    if shutil.which("unshare") is None:
        return None
    prefix = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    probe = subprocess.run(
        [*prefix, "mount", "-t", "tmpfs", "tmpfs", "/mnt"], capture_output=True, check=False
    )
    return prefix if probe.returncode == 0 else None


def test_a_full_disk_is_reported_as_disk_full_and_where(reference, tmp_path):
    """The state folder on a full 64 kB tmpfs (mounted in a namespace of the sync's own): exit 1 and one
    line saying "disk full" and which folder, instead of Errno 28 in a traceback; nothing changed."""
    prefix = _private_mount()
    if prefix is None:
        pytest.skip("mounting a small tmpfs needs root or user namespaces (unshare)")
    home = tmp_path / "full-home"
    home.mkdir()
    fill = f'mount -t tmpfs -o size=64k tmpfs {home} && (head -c 1048576 /dev/zero > {home}/filler; true) && exec "$@"'
    started = time.monotonic()
    out = _sync(reference, env={"PAYROLL_HOME": str(home)}, wrap=[*prefix, "sh", "-c", fill, "sh"])
    seconds = time.monotonic() - started
    assert out.returncode == 1, out.stderr[-3000:]
    assert f"disk full: no space left on the disk holding {home}" in out.stderr
    assert "Fix: free space there, then run again" in out.stderr
    assert "Traceback" not in out.stderr and "Errno 28" not in out.stderr
    assert differing(reference.pipeline.hashes(), reference.hashes) == []
    record_figure("16_10_disk_full", exit_code=out.returncode, seconds=round(seconds, 1))


def test_a_write_to_a_full_device_names_disk_full(tmp_path):
    """The message for real ENOSPC errors (/dev/full), a dbt error text and a PostgreSQL DiskFull."""
    device = os.open("/dev/full", os.O_WRONLY)
    try:
        with pytest.raises(OSError) as full:
            os.write(device, b"x")
    finally:
        os.close(device)
    message = disk_full_message(full.value)
    assert message is not None and message.startswith("disk full: no space left on the disk holding ")
    named = disk_full_message(
        f"[Errno 28] No space left on device: '{tmp_path / 'target' / 'manifest.json'}'"
    )
    assert named is not None and str(tmp_path / "target" / "manifest.json") in named
    server = disk_full_message('could not extend file "...": No space left on device')
    assert server is not None and server.startswith("disk full on the PostgreSQL server")
    assert disk_full_message(ValueError("a bad amount")) is None


def test_a_bad_log_level_is_refused_with_the_levels_to_use(reference):
    out = _sync(reference, env={"PAYROLL_LOG_LEVEL": "LOUD"})
    assert out.returncode == 2
    assert (
        "Configuration error: PAYROLL_LOG_LEVEL='LOUD' is not a log level; use one of DEBUG, INFO"
        in out.stderr
    )
    assert differing(reference.pipeline.hashes(), reference.hashes) == []


def test_debug_logging_shows_http_calls_after_the_kubernetes_client_silenced_them(monkeypatch):
    """The kubernetes client (Dagster's k8s run launcher) sets urllib3 to WARNING when it loads its
    configuration; PAYROLL_LOG_LEVEL=DEBUG still shows the HTTP layer of the Nmbrs calls."""
    import io
    import logging

    from kubernetes.client import Configuration

    from pipelines.lib.logs import configure_logging

    http = logging.getLogger("urllib3.connectionpool")
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), logging.getLogger("urllib3").level)
    try:
        Configuration()
        assert not http.isEnabledFor(logging.DEBUG), "the kubernetes client no longer silences urllib3"
        monkeypatch.setenv("PAYROLL_LOG_LEVEL", "DEBUG")
        buffer = io.StringIO()
        assert configure_logging(stream=buffer) == "DEBUG"
        http.debug("Starting new HTTP connection (1): 127.0.0.1:1")
        assert "DEBUG urllib3.connectionpool: Starting new HTTP connection" in buffer.getvalue()
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        logging.getLogger("urllib3").setLevel(saved[2])
