"""Fixtures for the library tests: a fresh warehouse with the raw schema (their own sandbox, `sb`, is
declared in tests/conftest.py)."""

from __future__ import annotations

import pytest

from pipelines.lib import warehouse


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
