"""Secrets at rest: values encrypted with Fernet (AES-128-CBC + HMAC-SHA256, `cryptography`) under a
key kept outside the database.

The key ring:
- PAYROLL_SECRET_KEY: one or more Fernet keys, comma separated; the first encrypts, all decrypt;
- else the key file `secret.key` in the state folder (PAYROLL_HOME): mode 0600, one key per line,
  the first encrypts. It is created, with a new key, the first time a secret is stored.
Stored values carry the prefix `fernet:`; a value without it is plain text from before encryption.
A value no key of the ring opens raises SecretKeyError (the key was lost or changed).

`rotate_key(reencrypt)` moves every stored value to a new key (`payroll secrets rotate-key`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from pipelines.lib import settings
from pipelines.lib.settings import ConfigurationError

KEY_VARIABLE = "PAYROLL_SECRET_KEY"
KEY_FILE = "secret.key"
PREFIX = "fernet:"


class SecretKeyError(RuntimeError):
    """A stored value cannot be decrypted with the configured key(s)."""


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[bytes, ...]
    source: str  # "PAYROLL_SECRET_KEY" or the key file's path, for messages

    def __repr__(self) -> str:  # never show the keys
        return f"KeyRing(source={self.source!r}, keys={len(self.keys)})"

    def encrypt(self, value: str) -> str:
        return PREFIX + Fernet(self.keys[0]).encrypt(value.encode()).decode()

    def decrypt(self, stored: str) -> str:
        """The plain value of a stored one (a plain-text value is returned as it is)."""
        if not is_encrypted(stored):
            return stored
        try:
            return (
                MultiFernet([Fernet(key) for key in self.keys])
                .decrypt(stored[len(PREFIX) :].encode())
                .decode()
            )
        except InvalidToken:
            raise SecretKeyError(
                f"a stored secret does not open with the key of {self.source} (the key was lost or changed)"
            ) from None


def is_encrypted(stored: str) -> bool:
    return stored.startswith(PREFIX)


def key_ring() -> KeyRing:
    """The configured key ring: PAYROLL_SECRET_KEY, else the state folder's key file (created if missing)."""
    configured = os.environ.get(KEY_VARIABLE, "").strip()
    if configured:
        return KeyRing(_parse(configured.split(","), KEY_VARIABLE), KEY_VARIABLE)
    path = key_file()
    if not path.exists():
        _create_key_file(path)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return KeyRing(_parse(path.read_text(encoding="ascii").split(), str(path)), str(path))


def key_file() -> Path:
    return settings.state_dir() / KEY_FILE


def generate_key() -> str:
    return Fernet.generate_key().decode()


def _parse(values: list[str], source: str) -> tuple[bytes, ...]:
    keys = tuple(value.strip().encode() for value in values if value.strip())
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ConfigurationError(
                f"{source}: key {number} is not a Fernet key (32 url-safe base64-encoded bytes). Fix: generate "
                "one with `payroll secrets generate-key`"
            ) from None
    if not keys:
        raise ConfigurationError(
            f"{source} holds no key. Fix: generate one with `payroll secrets generate-key`"
        )
    return keys


def _create_key_file(path: Path) -> None:
    """Write a new key file atomically: two processes creating it at once end up with the same key."""
    temporary = _write_private(path.parent, generate_key() + "\n")
    try:
        os.link(temporary, path)  # fails if another process created the file first
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def _write_private(folder: Path, text: str) -> Path:
    descriptor, name = tempfile.mkstemp(dir=folder, prefix=".secret-", suffix=".tmp")  # mode 0600
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(name)


def _replace_key_file(path: Path, keys: tuple[bytes, ...]) -> None:
    os.replace(_write_private(path.parent, "".join(key.decode() + "\n" for key in keys)), path)


@dataclass(frozen=True)
class Rotation:
    values: int  # stored values re-encrypted
    source: str
    note: str


def rotate_key(reencrypt: Callable[[KeyRing], int]) -> Rotation:
    """Re-encrypt every stored value with a new key; `reencrypt(ring)` does it in one transaction.

    Key file: the new key is written first, in front of the old ones (so that every value opens
    whatever happens next), then the values are re-encrypted, then the old keys are dropped. If the
    re-encryption fails, the key file is put back as it was.
    PAYROLL_SECRET_KEY: the new key must already be its first entry, the old ones after it.
    """
    configured = os.environ.get(KEY_VARIABLE, "").strip()
    if configured:
        ring = key_ring()
        if len(ring.keys) < 2:
            raise ConfigurationError(
                f"{KEY_VARIABLE} holds one key, so there is nothing to rotate to. Fix: generate a key with "
                f"`payroll secrets generate-key`, set {KEY_VARIABLE}=<new key>,<old key>, run "
                "`payroll secrets rotate-key`, then remove the old key"
            )
        count = reencrypt(ring)
        note = f"every stored secret now opens with the first key of {KEY_VARIABLE}; remove the other key(s) from it"
        return Rotation(count, KEY_VARIABLE, note)
    path = key_file()
    old = key_ring()
    new = KeyRing((generate_key().encode(), *old.keys), str(path))
    _replace_key_file(path, new.keys)
    try:
        count = reencrypt(new)
    except BaseException:
        _replace_key_file(path, old.keys)
        raise
    _replace_key_file(path, new.keys[:1])
    return Rotation(
        count,
        str(path),
        f"the old key was removed from {path}; if you keep a copy of the key file, replace it with this one",
    )
