"""Fixtures for the library tests: a fresh warehouse with the raw schema, a sandbox of our own."""

from __future__ import annotations

import os

import pytest

from pipelines.lib import warehouse
from pipelines.lib.nmbrs.config import NmbrsSettings
from pipelines.lib.nmbrs.soap import NmbrsSoapClient
from tests.conftest import temporary_env


@pytest.fixture
def warehouse_url(make_database) -> str:
    url = make_database("payroll_lib")
    conn = warehouse.connect(url)
    try:
        warehouse.ensure_raw_schema(conn)
    finally:
        conn.close()
    return url


@pytest.fixture
def wh(warehouse_url):
    conn = warehouse.connect(warehouse_url)
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def lib_sandbox():
    """A sandbox of our own (faults are injected into it), demo scenario, seed 42."""
    from pipelines.sandbox.server import SandboxServer

    server = SandboxServer.start(scenario="demo", seed=42, host="127.0.0.1", port=0)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sb(lib_sandbox):
    lib_sandbox.state.faults.clear()
    yield lib_sandbox
    lib_sandbox.state.faults.clear()


def settings_for(sandbox, **overrides: str | None) -> NmbrsSettings:
    """NmbrsSettings.from_env() with the sandbox's NMBRS_* (plus overrides; None unsets)."""
    env = {key: None for key in os.environ if key.startswith("NMBRS_")}
    env.update(sandbox.env_vars())
    env.update(overrides)
    with temporary_env(env):
        return NmbrsSettings.from_env()


def fast_soap(settings: NmbrsSettings) -> NmbrsSoapClient:
    return NmbrsSoapClient(settings, poll_interval=(0.05, 0.4), retry_wait=(0.01, 0.05))
