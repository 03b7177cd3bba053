"""The export tests read the marts of the shared synced demo warehouse."""

from __future__ import annotations

import os
from collections.abc import Callable

import psycopg2
import pytest


@pytest.fixture(scope="session")
def demo_warehouse_url(synced_demo) -> str:
    """URL of the synced demo warehouse (the session's PAYROLL_DATABASE_URL)."""
    return os.environ["PAYROLL_DATABASE_URL"]


@pytest.fixture(scope="session")
def query(demo_warehouse_url) -> Callable[..., list[tuple]]:
    def _query(statement: str, params: dict | tuple = ()) -> list[tuple]:
        conn = psycopg2.connect(demo_warehouse_url)
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall()
        finally:
            conn.close()

    return _query
