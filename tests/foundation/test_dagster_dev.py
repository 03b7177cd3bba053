"""`dagster dev` started in the repository root, as a Dagster user starts it: the same instance as
the `payroll` commands (their runs are there), no warning that dagster.yaml is ignored, and nothing
written into the repository."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import dagster as dg
import pytest
import requests

from pipelines.lib import dagster_ui, settings
from pipelines.lib.settings import PROJECT_ROOT, temporary_env

pytestmark = pytest.mark.daemon  # dagster dev starts a webserver and a daemon
START_SECONDS = 240
IGNORED_WARNING = "will not be used to configure Dagster"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _runs_seen_by(url: str) -> int | None:
    query = {"query": "{ runsOrError { ... on Runs { count } } }"}
    try:
        return requests.post(f"{url}/graphql", json=query, timeout=10).json()["data"]["runsOrError"]["count"]
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None


def test_dagster_dev_in_the_repository_opens_the_payroll_instance(make_database, tmp_path):
    home = tmp_path / "state"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PAYROLL_", "DAGSTER_"))}
    env.update(
        {
            "PAYROLL_DATABASE_URL": make_database("payroll_dev"),
            "PAYROLL_HOME": str(home),
            "PAYROLL_AUTOMATION": "off",
        }
    )
    with temporary_env({**env, "DAGSTER_HOME": None}):
        settings.prepare_environment(start_embedded=False)
        with dg.DagsterInstance.get() as instance:  # what every `payroll` command opens
            run = instance.create_run_for_job(dg.GraphDefinition(name="payroll_probe").to_job())
    before = sorted(path.name for path in PROJECT_ROOT.iterdir())

    port = _free_port()
    log_path = tmp_path / "dagster-dev.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env={**env, "DAGSTER_HOME": str(PROJECT_ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        seen = None
        while seen is None and time.monotonic() < deadline and process.poll() is None:
            time.sleep(2)
            seen = _runs_seen_by(f"http://127.0.0.1:{port}")
    finally:
        dagster_ui.stop(process)
    output = log_path.read_text(errors="replace")
    assert seen == 1, f"dagster dev did not show the instance's run {run.run_id}:\n{output[-3000:]}"
    assert IGNORED_WARNING not in output
    assert sorted(path.name for path in PROJECT_ROOT.iterdir()) == before
    assert (home / "dagster").is_dir()  # Dagster's local files went to the state folder
