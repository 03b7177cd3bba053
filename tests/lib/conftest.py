"""Fixtures for the library tests: a fresh warehouse with the raw schema, a sandbox of our own."""

from __future__ import annotations

import pytest

from pipelines.lib import warehouse
from tests.support.sandboxes import sandboxes


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
    with sandboxes() as start:
        yield start()


@pytest.fixture
def sb(lib_sandbox):
    lib_sandbox.state.faults.clear()
    yield lib_sandbox
    lib_sandbox.state.faults.clear()
