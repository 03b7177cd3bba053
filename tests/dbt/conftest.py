"""The dbt tests read the shared synced demo (one extraction + dbt build per session, ~20 s of dbt)."""

from __future__ import annotations

import pytest

from tests.support.dbt import TruthSnapshot, Warehouse


@pytest.fixture(scope="session")
def dbt_demo(synced_demo, demo_env, sandbox) -> Warehouse:
    """The synced demo warehouse (extraction, ERP import and `dbt build` by run_sync)."""
    return Warehouse(
        url=demo_env["PAYROLL_DATABASE_URL"], truth=TruthSnapshot.of(sandbox.state.truth), env=demo_env
    )
