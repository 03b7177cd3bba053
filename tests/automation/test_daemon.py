"""The real thing: a `dagster-daemon` with the sensors on notices a run added in the sandbox and the
marts change within a bounded time; stopping it leaves no process behind."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time

import psutil
import psycopg2
import pytest

from pipelines.lib import dagster_ui, settings
from tests.support.automation import start_pipeline

YEAR = dt.date.today().year
BOUND_SECONDS = 600
pytestmark = pytest.mark.daemon


@pytest.fixture(scope="module")
def synced_for_daemon(make_database, tmp_path_factory):
    for pipeline in start_pipeline(make_database, tmp_path_factory, "daemon"):
        from pipelines.app.sync import run_sync

        result = run_sync()
        assert result.success, [(step.name, step.error) for step in result.failures]
        yield pipeline


def mart_has_month(company_id: int, year: int, month: int) -> bool:
    with psycopg2.connect(os.environ["PAYROLL_DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute(
            "select count(*) from marts.payroll_company_costs_monthly where company_id = %s and year = %s and month = %s",
            (company_id, year, month),
        )
        return cur.fetchone()[0] > 0


def test_the_daemon_loads_a_new_run_into_the_marts_on_its_own(synced_for_daemon):
    daemon = subprocess.Popen(
        [sys.executable, "-m", "dagster._daemon", "run", "-w", str(dagster_ui.WORKSPACE_YAML)],
        cwd=settings.PROJECT_ROOT,
        env={**os.environ, "PAYROLL_SENSOR_INTERVAL_SECONDS": "5"},
        start_new_session=True,
    )
    try:
        added = synced_for_daemon.sandbox.state.add_run(101)
        month = added.period_end
        assert not mart_has_month(101, YEAR, month)
        deadline = time.monotonic() + BOUND_SECONDS
        while time.monotonic() < deadline and not mart_has_month(101, YEAR, month):
            assert daemon.poll() is None, "the daemon exited"
            time.sleep(5)
        elapsed = BOUND_SECONDS - (deadline - time.monotonic())
        assert mart_has_month(101, YEAR, month), f"month {month} not in the marts after {BOUND_SECONDS} s"
        print(f"new run visible in marts.payroll_company_costs_monthly after {elapsed:.0f} s")
        with synced_for_daemon.instance() as instance:
            import dagster as dg

            runs = instance.get_runs(dg.RunsFilter(job_name="nmbrs_company_year_sync"))
            assert [run.tags.get("dagster/partition") for run in runs] == [f"101|{YEAR}"]
            assert runs[0].tags.get("dagster/sensor_name") == "nmbrs_new_runs"
    finally:
        descendants = psutil.Process(daemon.pid).children(recursive=True) if daemon.poll() is None else []
        dagster_ui.stop(daemon)
    assert daemon.poll() is not None
    assert not [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
