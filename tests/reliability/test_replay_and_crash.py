"""Scenarios 1, 2 and 6: idempotent replay, a SIGKILL mid-load, the database connection dropped mid-COPY.

Each ends with the warehouse's content hashes (every raw table and mart, load bookkeeping columns
left out) equal to the reference: an uninterrupted sync of the same sandbox data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import dagster as dg
import pytest

from tests.support.pipeline import PAYROLL, differing, raw_only, record_figure, step_errors


@pytest.fixture
def reference(soap_reference):
    """A COPY held open by a slow download: the SOAP reports stream into their COPY (source mode
    soap); the REST run output is read whole before its rows are written."""
    return soap_reference


pytestmark = pytest.mark.reliability

RESULT_CALL = "soap:ReportService.Reports_BackgroundTask_Result"
COPY_IN_PROGRESS = (
    "select pid, query from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() "
    "and state = 'active' and query ilike 'copy %%nmbrs%%from stdin'"
)


def wait_for_copy(pipeline, deadline_seconds: float, alive=lambda: True) -> tuple[int, str]:
    """Poll pg_stat_activity until a COPY into a raw Nmbrs table is running; its backend pid and query."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline and alive():
        rows = pipeline.query(COPY_IN_PROGRESS)
        if rows:
            return rows[0]
        time.sleep(0.05)
    raise AssertionError(f"no COPY into a raw table was seen within {deadline_seconds:.0f} s")


def wait_until_gone(pipeline, pid: int, timeout: float = 30) -> float:
    started = time.monotonic()
    while pipeline.query("select 1 from pg_stat_activity where pid = %s", (pid,)):
        assert time.monotonic() - started < timeout, f"backend {pid} still alive after {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - started


def copied_table(statement: str) -> str:
    return statement.split()[1].replace('"', "")


def test_sigkill_during_a_partition_load_loses_nothing_and_a_rerun_equals_an_uninterrupted_sync(reference):
    pipeline, sandbox = reference.pipeline, reference.sandbox
    # Every report download waits 1 s before answering, so the COPY it feeds stays open meanwhile.
    sandbox.state.faults.inject(RESULT_CALL, "slow", times=None, seconds=1.0)
    log = open(pipeline.env["PAYROLL_HOME"] + "/killed-sync.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [PAYROLL, "sync", "--full-refresh", "--no-dbt"],
        env=pipeline.subprocess_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        backend, statement = wait_for_copy(pipeline, 240, alive=lambda: process.poll() is None)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        log.close()
        sandbox.state.faults.clear()
    aborted_after = wait_until_gone(pipeline, backend)

    after_kill = pipeline.hashes()
    assert differing(after_kill, reference.hashes) == [], "the killed load left partial or missing rows"

    started = time.monotonic()
    rerun = pipeline.sync(include_dbt=False)
    recovered = time.monotonic() - started
    assert rerun.success, step_errors(rerun)
    final = pipeline.hashes()
    assert differing(final, reference.hashes) == []
    with pipeline.active(), dg.DagsterInstance.get() as instance:
        unfinished = instance.get_runs(
            filters=dg.RunsFilter(
                statuses=[
                    dg.DagsterRunStatus.STARTED,
                    dg.DagsterRunStatus.STARTING,
                    dg.DagsterRunStatus.NOT_STARTED,
                ]
            )
        )
    assert unfinished == [], "the killed sync's run was not marked failed"
    record_figure(
        "2_crash_mid_load",
        killed_during=f"COPY into {copied_table(statement)}",
        server_rollback_seconds=round(aborted_after, 2),
        tables_compared=len(final),
        rows_compared=sum(rows for rows, _ in final.values()),
        rerun_seconds_to_recover=round(recovered, 1),
    )


def test_connection_dropped_mid_copy_rolls_back_and_the_step_retry_completes_the_sync(reference):
    pipeline, sandbox = reference.pipeline, reference.sandbox
    sandbox.state.faults.inject(RESULT_CALL, "slow", times=None, seconds=1.0)
    outcome: dict[str, object] = {}

    def sync() -> None:
        try:
            outcome["result"] = pipeline.sync(companies=[101], include_dbt=False, full_refresh=True)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    worker = threading.Thread(target=sync, name="sync-under-test")
    worker.start()
    try:
        backend, statement = wait_for_copy(pipeline, 180, alive=worker.is_alive)
        before = raw_only(pipeline.hashes())
        pipeline.query("select pg_terminate_backend(%s)", (backend,))
        dropped_at = time.monotonic()
        wait_until_gone(pipeline, backend)
        assert differing(raw_only(pipeline.hashes()), before) == [], "the dropped COPY left rows behind"
    finally:
        worker.join(timeout=300)
        sandbox.state.faults.clear()
    recovered = time.monotonic() - dropped_at
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert result.success, step_errors(result)
    retried = sum(step.retries for step in result.steps)
    assert retried >= 1, "the failed load was not retried"
    assert differing(pipeline.hashes(), reference.hashes) == []
    record_figure(
        "6_connection_dropped_mid_copy",
        dropped_during=f"COPY into {copied_table(statement)}",
        step_retries=retried,
        seconds_to_recover=round(recovered, 1),
    )


def test_replaying_the_same_data_gives_identical_raw_tables_and_marts(reference):
    pipeline = reference.pipeline
    started = time.monotonic()
    replay = pipeline.sync(full_refresh=True)
    seconds = time.monotonic() - started
    assert replay.success, step_errors(replay)
    replayed = pipeline.hashes()
    assert differing(replayed, reference.hashes) == []
    rewritten = sum(load.rows_loaded for step in replay.steps for load in step.loads)
    assert rewritten > 0, "a full refresh must write the partitions again, not skip them"
    record_figure(
        "1_idempotent_replay",
        tables_compared=len(replayed),
        rows_compared=sum(rows for rows, _ in replayed.values()),
        rows_rewritten=rewritten,
        replay_seconds=round(seconds, 1),
    )
