"""Fixtures for the library tests: a connection to a fresh raw warehouse (`warehouse_url` and their own
sandbox, `sb`, are declared in tests/conftest.py)."""

from __future__ import annotations

import pytest

from pipelines.lib import warehouse


@pytest.fixture
def wh(warehouse_url):
    conn = warehouse.connect(warehouse_url)
    yield conn
    conn.close()
