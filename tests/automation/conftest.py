"""The automation tests' pipeline: its own sandbox, warehouse and Dagster instance.

These tests add runs and corrections to the sandbox, so they never touch the shared demo sandbox.
`synced` loads it once (run_sync: reference data, every company-year, ERP and dbt) and is shared by
the tests of one module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.automation import AutomationPipeline, start_pipeline


@pytest.fixture(scope="module")
def pipeline(make_database, tmp_path_factory) -> Iterator[AutomationPipeline]:
    yield from start_pipeline(make_database, tmp_path_factory, "automation")


@pytest.fixture(scope="module")
def synced(pipeline: AutomationPipeline) -> AutomationPipeline:
    from pipelines.app.sync import run_sync

    result = run_sync()
    assert result.success, [(step.name, step.error) for step in result.failures]
    return pipeline
