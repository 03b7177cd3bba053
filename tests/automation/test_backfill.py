"""`payroll backfill --wait`: a real Dagster asset backfill of two years, driven by a real daemon."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import psutil
import pytest
from click.testing import CliRunner
from dagster._core.execution.backfill import BulkActionStatus

from pipelines.cli import main
from tests.support.automation import start_pipeline

YEAR = dt.date.today().year
pytestmark = pytest.mark.daemon


@pytest.fixture(scope="module")
def fresh(make_database, tmp_path_factory):
    yield from start_pipeline(make_database, tmp_path_factory, "backfill")


def test_a_two_year_backfill_completes_and_every_partition_is_materialized(fresh):
    assert not dagster_processes()
    result = CliRunner().invoke(main, ["backfill", "--since", str(YEAR - 1), "--wait", "--timeout", "900"])
    assert result.exit_code == 0, result.output
    assert "submitted backfill" in result.output and "3 companies x 2 years" in result.output
    assert "completed_success" in result.output

    with fresh.instance() as instance:
        backfills = instance.get_backfills()
        assert len(backfills) == 1 and backfills[0].status == BulkActionStatus.COMPLETED_SUCCESS
        expected = {f"{company}|{year}" for company in (101, 102, 103) for year in (YEAR - 1, YEAR)}
        for name in ("payroll_runs", "wage_components", "payslips"):
            assert instance.get_materialized_partitions(dg.AssetKey(["nmbrs", name])) == expected
        mart = instance.get_latest_materialization_event(dg.AssetKey(["payroll_company_costs_monthly"]))
        assert mart is not None and mart.run_id in {
            run.run_id
            for run in instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfills[0].backfill_id}))
        }
    # The daemon started for the wait is gone, with its code server and run workers.
    assert not dagster_processes()


def dagster_processes() -> list[str]:
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            command = " ".join(process.cmdline())
        except psutil.NoSuchProcess:
            continue
        if "dagster" in command and process.status() != psutil.STATUS_ZOMBIE:
            found.append(command)
    return found
