"""Isolated pipelines for the extraction tests: one sandbox, warehouse and Dagster home each."""

from __future__ import annotations

import pytest

from tests.support.env import make_env
from tests.support.extract import ExtractPipeline
from tests.support.sandboxes import sandboxes


@pytest.fixture(scope="session")
def make_pipeline(make_database, tmp_path_factory):
    """Start a sandbox (scenario + knobs) with a fresh warehouse for one source mode."""
    with sandboxes() as start:

        def _make(mode: str, scenario: str = "demo", sandbox=None, **knobs) -> ExtractPipeline:
            """With `sandbox`, a fresh warehouse for an existing sandbox (e.g. a reference run)."""
            server = sandbox or start(scenario, **knobs)
            url = make_database("payroll_extract")
            home = tmp_path_factory.mktemp(f"payroll-{mode.replace('+', '-')}")
            env = make_env(url, home, {**server.env_vars(), "NMBRS_SOURCE_MODE": mode})
            return ExtractPipeline(server, env, url)

        yield _make
