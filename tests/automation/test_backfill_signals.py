"""Issue 16 item 2 for `payroll backfill --wait`: one Ctrl-C cancels the backfill and exits 130.

`payroll backfill --wait` runs in a child process (it starts its own daemon) against a sandbox whose
report downloads are 1 s slow; once a company-year run of the backfill is in progress, SIGINT goes to
the command's process group, as Ctrl-C in a terminal. The command must cancel the backfill (the
daemon terminates its runs, whose loads roll back), say what was left undone, stop its daemon and
exit 130, leaving no run unfinished.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus

from tests.support.automation import start_pipeline
from tests.support.pipeline import PAYROLL, record_figure

YEAR = dt.date.today().year
RESULT_CALL = "soap:ReportService.Reports_BackgroundTask_Result"
pytestmark = pytest.mark.daemon


@pytest.fixture(scope="module")
def fresh(make_database, tmp_path_factory):
    yield from start_pipeline(make_database, tmp_path_factory, "backfill_signal")


def _company_year_run_started(instance) -> bool:
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    return any("dagster/partition" in run.tags and "dagster/backfill" in run.tags for run in runs)


def test_ctrl_c_during_backfill_wait_cancels_it_and_exits_130(fresh):
    fresh.sandbox.state.faults.inject(RESULT_CALL, "slow", times=None, seconds=1.0)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("NMBRS_", "DAGSTER_"))}
    env.update(fresh.env)
    log_path = fresh.home / "backfill-signal.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [PAYROLL, "backfill", "--since", str(YEAR - 1), "--wait", "--timeout", "600"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        with fresh.instance() as instance:
            while not _company_year_run_started(instance):
                assert process.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, "no company-year run of the backfill started"
                time.sleep(0.5)
        sent = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=120)
        seconds = time.monotonic() - sent
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        fresh.sandbox.state.faults.clear()
    output = log_path.read_text()

    assert process.returncode == 130, output[-3000:]
    assert "stopped by SIGINT: backfill" in output, output[-3000:]
    assert "Run `payroll backfill` again to finish" in output
    assert seconds < 60, f"took {seconds:.1f} s to stop"
    with fresh.instance() as instance:
        [backfill] = instance.get_backfills()
        assert backfill.status in (BulkActionStatus.CANCELED, BulkActionStatus.CANCELING)
        unfinished = instance.get_runs(
            filters=dg.RunsFilter(
                statuses=[
                    dg.DagsterRunStatus.STARTED,
                    dg.DagsterRunStatus.STARTING,
                    dg.DagsterRunStatus.QUEUED,
                ]
            )
        )
    assert unfinished == [], [run.run_id for run in unfinished]
    record_figure(
        "16_2_backfill_wait_sigint",
        exit_code=process.returncode,
        seconds_to_stop=round(seconds, 1),
        message=[line for line in output.splitlines() if line.startswith("stopped by SIGINT")][0],
    )
