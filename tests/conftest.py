"""Shared fixtures: real PostgreSQL (server or embedded), a fresh database per use, the sandbox.

PAYROLL_TEST_DATABASE_URL names a server to use (each test session creates its own databases on
it). Without it, an embedded pgserver is started in a temporary folder and deleted afterwards.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from pipelines.lib import settings, warehouse
from pipelines.lib.settings import temporary_env, url_for_database
from tests.support.env import make_env
from tests.support.sandboxes import sandboxes


@pytest.fixture(autouse=True)
def _environment_restored_after_each_test():
    """No test leaks environment changes into the next (session fixtures are set up before this)."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Admin URL of the PostgreSQL server the tests use."""
    url = os.environ.get("PAYROLL_TEST_DATABASE_URL", "").strip()
    if url:
        yield url
        return
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    import pgserver

    parent = Path(tempfile.mkdtemp(prefix="payroll-pg-"))
    parent.chmod(0o755)  # as root, pgserver runs the server as user `pgserver`, which must reach pgdata
    server = pgserver.get_server(parent / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def make_database(pg_server: str):
    """Create a fresh, empty database; returns its URL. All are dropped when the session ends."""
    created: list[str] = []

    def _make(prefix: str = "payroll_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        conn = psycopg2.connect(pg_server)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        conn.close()
        created.append(name)
        return url_for_database(pg_server, name)

    yield _make
    conn = psycopg2.connect(pg_server)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in created:
            cur.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
    conn.close()


@pytest.fixture(scope="session")
def sandbox():
    """The demo-scenario sandbox, served on a free local port for the whole session."""
    with sandboxes() as start:
        yield start()


@pytest.fixture
def warehouse_url(make_database) -> str:
    """A fresh database with the raw schema (the raw Nmbrs tables, the token store's schema)."""
    url = make_database("payroll_raw")
    conn = warehouse.connect(url)
    try:
        warehouse.ensure_raw_schema(conn)
    finally:
        conn.close()
    return url


@pytest.fixture(scope="module")
def own_sandbox():
    """A sandbox of the test module's own (faults are injected into it): demo scenario, seed 42."""
    with sandboxes() as start:
        yield start()


@pytest.fixture
def sb(own_sandbox):
    """The module's own sandbox with no fault left over from another test, before or after."""
    own_sandbox.state.faults.clear()
    yield own_sandbox
    own_sandbox.state.faults.clear()


@pytest.fixture(scope="session")
def demo_env(make_database, sandbox, tmp_path_factory) -> Iterator[dict[str, str]]:
    """A fresh warehouse + Dagster instance wired to the demo sandbox, active for the session."""
    home = tmp_path_factory.mktemp("payroll-home")
    env = make_env(make_database(), home, sandbox.env_vars())
    with temporary_env(env):
        resolved = settings.prepare_environment(start_embedded=False)
        yield {**{k: v for k, v in env.items() if v is not None}, **resolved}


@pytest.fixture(scope="session")
def synced_demo(demo_env):
    """One full `run_sync()` of the demo sandbox into demo_env (Nmbrs, ERP files, dbt build).

    Returns the SyncResult. Shared by every test that only reads the synced warehouse: do not write.
    """
    from pipelines.app.sync import run_sync

    result = run_sync()
    assert result.success, "demo sync failed: " + "; ".join(f"{s.name}: {s.error}" for s in result.failures)
    return result


@pytest.fixture(scope="session")
def demo_warehouse_url(synced_demo, demo_env) -> str:
    """URL of the synced demo warehouse (the session's PAYROLL_DATABASE_URL)."""
    return demo_env["PAYROLL_DATABASE_URL"]
