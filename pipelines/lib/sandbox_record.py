"""The record of the local Nmbrs sandbox a state folder started: `<state folder>/sandbox.json`.

Whoever starts a sandbox for a state folder (`payroll demo`, `payroll ui`, `sync`, `doctor`,
`connect` and `backfill` in demo mode, `payroll sandbox`) records its URL, the process serving it and
the sandbox's instance id: a random id every sandbox makes when it starts and answers on
`GET /_admin/instance`. A recorded sandbox is reused only while that process is alive and the
sandbox at the recorded URL answers with the recorded id. So the sandbox of another clone (or of
another state folder), or a new process that took over the port, is never mistaken for this one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
import requests

from pipelines.lib import settings

RECORD_NAME = "sandbox.json"
PROBE_TIMEOUT_SECONDS = 3


@dataclass(frozen=True)
class SandboxRecord:
    url: str
    port: int
    pid: int  # the process serving the sandbox
    instance: str  # the sandbox's instance id (GET /_admin/instance)


def record_path() -> Path:
    return settings.state_dir() / RECORD_NAME


def write(record: SandboxRecord) -> None:
    """Record the sandbox this state folder now serves (owner-only file, replaced atomically)."""
    path = record_path()
    tmp = path.with_name(f".{RECORD_NAME}.{os.getpid()}.tmp")
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(asdict(record), handle)
    os.replace(tmp, path)


def read() -> SandboxRecord | None:
    """The recorded sandbox, or None when there is no record or it is not one this module wrote."""
    try:
        values = json.loads(record_path().read_text(encoding="utf-8"))
        return SandboxRecord(
            url=str(values["url"]),
            port=int(values["port"]),
            pid=int(values["pid"]),
            instance=str(values["instance"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove(instance: str) -> None:
    """Delete the record if it still names this sandbox (a newer sandbox's record stays)."""
    record = read()
    if record is not None and record.instance == instance:
        record_path().unlink(missing_ok=True)


def instance_at(url: str) -> str | None:
    """The instance id of the sandbox answering at `url`; None when nothing (or no sandbox) answers."""
    try:
        response = requests.get(f"{url}/_admin/instance", timeout=PROBE_TIMEOUT_SECONDS)
        return str(response.json()["instance"]) if response.ok else None
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None


def live() -> SandboxRecord | None:
    """The sandbox this state folder started, if it still serves at its URL; else None."""
    record = read()
    if record is None or not psutil.pid_exists(record.pid):
        return None
    return record if instance_at(record.url) == record.instance else None
