"""An isolated pipeline for the automation tests: its own sandbox, warehouse and Dagster instance.

These tests add runs and corrections to the sandbox, so they never touch the shared demo sandbox.
`synced` loads it once (run_sync: reference data, every company-year, ERP and dbt) and is shared by
the tests of one module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from pipelines.lib import settings
from tests.conftest import make_env, temporary_env


@dataclass
class Pipeline:
    sandbox: object
    env: dict[str, str]
    home: Path

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.get()

    def definitions(self) -> dg.Definitions:
        from pipelines.definitions import defs

        return defs()


def start_pipeline(make_database, tmp_path_factory, name: str) -> Iterator[Pipeline]:
    from pipelines.sandbox.server import SandboxServer

    server = SandboxServer.start(scenario="demo", seed=42, host="127.0.0.1", port=0)
    try:
        home = tmp_path_factory.mktemp(name)
        env = make_env(make_database(name), home, server.env_vars())
        with temporary_env({**env, "PAYROLL_AUTOMATION": None, "PAYROLL_ALERT_WEBHOOK": None}):
            resolved = settings.prepare_environment(start_embedded=False)
            yield Pipeline(server, {**{k: v for k, v in env.items() if v is not None}, **resolved}, home)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pipeline(make_database, tmp_path_factory) -> Iterator[Pipeline]:
    yield from start_pipeline(make_database, tmp_path_factory, "automation")


@pytest.fixture(scope="module")
def synced(pipeline: Pipeline) -> Pipeline:
    from pipelines.lib.sync import run_sync

    result = run_sync()
    assert result.success, [(step.name, step.error) for step in result.failures]
    return pipeline
