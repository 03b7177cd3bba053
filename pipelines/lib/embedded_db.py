"""The embedded PostgreSQL (pgserver) used when PAYROLL_DATABASE_URL is unset.

Its data lives in the state folder (.payroll/pgdata). The server keeps running between commands, so
that a second start reuses it; `payroll db stop` stops it and leaves no process behind.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg2
from psycopg2 import sql

from pipelines.lib.settings import state_dir

WAREHOUSE_DB = "payroll"
logging.getLogger("pgserver").setLevel(logging.WARNING)


@dataclass(frozen=True)
class EmbeddedStatus:
    running: bool
    pgdata: Path
    pid: int | None
    url: str | None


def pgdata_dir() -> Path:
    return state_dir() / "pgdata"


def _postmaster_pid(pgdata: Path) -> int | None:
    pidfile = pgdata / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    return pid if psutil.pid_exists(pid) else None


def start() -> EmbeddedStatus:
    """Start the embedded server, or reuse the one already running, and ensure the warehouse database."""
    runtime = state_dir() / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pgserver

    pgdata = pgdata_dir()
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    admin_url = server.get_uri("postgres")
    _ensure_database(admin_url, WAREHOUSE_DB)
    return EmbeddedStatus(True, pgdata, server.get_pid(), server.get_uri(WAREHOUSE_DB))


def _ensure_database(admin_url: str, name: str) -> None:
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    finally:
        conn.close()


def status() -> EmbeddedStatus:
    pgdata = pgdata_dir()
    pid = _postmaster_pid(pgdata)
    if pid is None:
        return EmbeddedStatus(False, pgdata, None, None)
    return start()


def stop() -> bool:
    """Stop the embedded server and wait for every one of its processes to exit. False if none ran."""
    pgdata = pgdata_dir()
    pid = _postmaster_pid(pgdata)
    if pid is None:
        return False
    postmaster = psutil.Process(pid)
    children = postmaster.children(recursive=True)
    postmaster.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown: roll back sessions, stop cleanly
    _, alive = psutil.wait_procs([postmaster, *children], timeout=30)
    for proc in alive:
        proc.kill()
    psutil.wait_procs(alive, timeout=5)
    return True
