"""The export tests read the marts of the shared synced demo warehouse."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipelines.lib import warehouse


@pytest.fixture(scope="session")
def query(demo_warehouse_url) -> Callable[..., list[tuple]]:
    def _query(statement: str, params: dict | tuple = ()) -> list[tuple]:
        return warehouse.fetch_all(demo_warehouse_url, statement, params)

    return _query
