"""Scenario 7, end to end: the new-run sensor re-ticking or racing itself loads a company-year once.

Company 102's runs of the latest polled year that has any are removed from the warehouse (as if never loaded). Two sensor
evaluations at the same moment against the same instance each request exactly one load, with the
same run key (Dagster launches one run per run key); a re-tick with the returned cursor requests
nothing. Then both requests are executed at the same time anyway, as two racing daemons would, with
every access token expired so that both workers refresh the rotating token at once: one refresh,
and the warehouse ends equal to the reference sync, with no row twice (scenarios 5 and 7). (Cursor behaviour on a single
instance is in tests/automation/test_new_runs_sensor.py.)
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import dagster as dg
import pytest

from pipelines.defs.automation.run_watch import years_to_poll
from tests.support.pipeline import differing, load_partitions_in_parallel, record_figure

pytestmark = pytest.mark.reliability

RESULT_CALL = "soap:ReportService.Reports_BackgroundTask_Result"


def in_threads(count: int, work) -> list:
    results: list = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = work(index)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    if errors:
        raise errors[0]
    return results


def test_racing_sensor_ticks_request_one_load_and_racing_launches_do_not_double_load(reference):
    from pipelines.definitions import defs as load_definitions
    from pipelines.defs.automation.new_runs_sensor import SENSOR_NAME

    pipeline, sandbox = reference.pipeline, reference.sandbox
    # The latest year the sensor polls today that has runs (in January last year's: this one has none).
    world = sandbox.state.world
    year = max(y for y in years_to_poll(dt.date.today()) if world.runs(102, y))
    key = f"102|{year}"
    removed = pipeline.execute("delete from nmbrs.payroll_runs where company_id = 102 and year = %s", (year,))
    assert removed > 0

    with pipeline.active(), dg.DagsterInstance.get() as instance:
        defs = load_definitions()
        sensor = defs.resolve_sensor_def(SENSOR_NAME)

        def tick(_index: int, cursor: str | None = None) -> dg.SensorResult:
            # The sensor's resources (nmbrs, warehouse) are built and torn down with its context.
            with dg.build_sensor_context(
                instance=instance, cursor=cursor, definitions=defs, resources=defs.resources
            ) as context:
                return sensor(context)

        ticks = in_threads(2, tick)
        requests = [request for result in ticks for request in result.run_requests]
        assert [r.partition_key for r in requests] == [key, key]
        assert requests[0].run_key == requests[1].run_key
        assert tick(0, ticks[0].cursor).run_requests == [], "a re-tick on the same data requests nothing"

    sandbox.state.faults.inject(RESULT_CALL, "slow", times=None, seconds=0.3)  # overlap the loads
    # Both runs will find the stored access token refused and refresh at once (rotating tokens).
    sandbox.state.identity.expire_access_tokens()
    refreshes_before = sandbox.state.counters.calls["identity:token"]
    started = time.monotonic()
    try:
        outcomes = load_partitions_in_parallel(
            pipeline, [{"keys": [key], "tags": dict(request.tags)} for request in requests]
        )
    finally:
        sandbox.state.faults.clear()
    seconds = time.monotonic() - started
    assert [outcome["success"] for outcome in outcomes] == [True, True]
    refreshes = sandbox.state.counters.calls["identity:token"] - refreshes_before
    assert refreshes == 1, f"{refreshes} refreshes: the second worker must use the first one's new token"
    final = pipeline.hashes()
    assert differing(final, reference.hashes) == []
    record_figure(
        "7_sensor_race",
        evaluations=2,
        run_requests_per_evaluation=1,
        distinct_run_keys=1,
        concurrent_loads=2,
        token_refreshes_by_two_workers=refreshes,
        rows_compared=sum(rows for rows, _ in final.values()),
        seconds=round(seconds, 1),
    )
