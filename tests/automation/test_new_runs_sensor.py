"""The new-run sensor on a real instance and sandbox: one load per new or changed Nmbrs run, the
load updates the marts, a partition being loaded is waited for, and one company's failure does not
stop the others."""

from __future__ import annotations

import datetime as dt
import uuid

import dagster as dg
import psycopg2

from pipelines.defs.automation.new_runs_sensor import SENSOR_NAME, evaluate, partition_years
from pipelines.defs.automation.nmbrs_runs import run_lister
from pipelines.defs.automation.run_watch import RunCursor
from pipelines.defs.nmbrs.resources import NmbrsResource
from pipelines.defs.resources import WarehouseResource
from pipelines.lib.settings import temporary_env

YEAR = dt.date.today().year


def unlocked_year(sandbox, company: int) -> int:
    """The year of the company's one unlocked run: Nmbrs locks it when the company's next run is made."""
    world = sandbox.state.world
    return next(year for year in world.years(company) for run in world.runs(company, year) if not run.locked)


def polled(company: int, *years: int) -> set[str]:
    """The company_year keys of these years that the sensor polls today (in January also last year's)."""
    return {f"{company}|{year}" for year in years if year in partition_years(dt.date.today())}


def tick(pipeline, cursor: str | None) -> dg.SensorResult:
    defs = pipeline.definitions()
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    with (
        pipeline.instance() as instance,
        dg.build_sensor_context(
            instance=instance, cursor=cursor, definitions=defs, resources=defs.resources
        ) as context,
    ):
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def months_in_costs_mart(company_id: int, year: int) -> set[int]:
    import os

    with psycopg2.connect(os.environ["PAYROLL_DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute(
            "select distinct month from marts.payroll_company_costs_monthly where company_id = %s and year = %s",
            (company_id, year),
        )
        return {row[0] for row in cur.fetchall()}


def test_a_new_run_requests_one_load_which_updates_the_marts_and_a_correction_requests_another(synced):
    # The sensor switched on after the first import compares with the warehouse: nothing to load.
    first = tick(synced, None)
    assert first.run_requests == []
    assert "requested 0 load(s)" in first.skip_reason.skip_message

    # The new run's year is loaded; so is the year of the run it locks when that is another polled
    # year (a run made in January locks December's).
    locked_year = unlocked_year(synced.sandbox, 101)
    added = synced.sandbox.state.add_run(101)
    year = added.year
    assert year in partition_years(dt.date.today())
    second = tick(synced, first.cursor)
    assert {r.partition_key for r in second.run_requests} == polled(101, year, locked_year)
    [request] = [r for r in second.run_requests if r.partition_key == f"101|{year}"]
    assert request.run_key.startswith("101:")
    assert request.run_key.endswith(added.run_at.replace(microsecond=0).isoformat())
    # The run it launches says who started it and what it is (issue 14 item 5).
    assert request.tags["payroll/started_by"] == "sensor"
    assert request.tags["payroll/run"].startswith(f"sensor: company 101, year {year} (Nmbrs run ")

    # Evaluating the same Nmbrs data again launches nothing.
    assert tick(synced, second.cursor).run_requests == []

    month = added.period_end
    assert month not in months_in_costs_mart(101, year)
    job = synced.definitions().resolve_job_def("nmbrs_company_year_sync")
    with synced.instance() as instance:
        outcome = job.execute_in_process(
            instance=instance, partition_key=request.partition_key, tags=request.tags, raise_on_error=False
        )
    assert outcome.success
    assert month in months_in_costs_mart(101, year)
    materialized = {event.asset_key.to_user_string() for event in outcome.get_asset_materialization_events()}
    assert materialized >= {
        "nmbrs/payroll_runs",
        "payroll_company_costs_monthly",
    }

    # A correction of the period just run: its year (where it also locks that run) is loaded again.
    correction = synced.sandbox.state.correct_period(101, year, added.period_start)
    third = tick(synced, second.cursor)
    assert [r.partition_key for r in third.run_requests] == [f"101|{year}"]
    assert third.run_requests[0].run_key != request.run_key
    assert str(correction.payroll_run_id) in third.run_requests[0].run_key or str(correction.id) in (
        third.run_requests[0].run_key
    )


def test_while_a_partition_is_loading_the_sensor_waits_and_keeps_its_cursor(synced):
    baseline = tick(synced, None)
    locked_year = unlocked_year(synced.sandbox, 103)
    added = synced.sandbox.state.add_run(103)
    key = f"103|{added.year}"
    with synced.instance() as instance:
        blocker = dg.DagsterRun(
            job_name="nmbrs_company_year_sync",
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.STARTED,
            tags={"dagster/partition": key},
        )
        instance.add_run(blocker)
    try:
        waiting = tick(synced, baseline.cursor)
        # Only the year of the run it locked (in January: last year's) may load; not the busy one.
        assert {r.partition_key for r in waiting.run_requests} == polled(103, locked_year) - {key}
        if not waiting.run_requests:  # a tick that requests nothing says why
            assert key in waiting.skip_reason.skip_message
        assert RunCursor.parse(waiting.cursor).seen[key] == RunCursor.parse(baseline.cursor).seen[key]
    finally:
        with synced.instance() as instance:
            instance.report_run_canceled(instance.get_run_by_id(blocker.run_id))
    after = tick(synced, waiting.cursor)
    assert [r.partition_key for r in after.run_requests] == [key]


def test_one_company_failing_is_reported_and_the_others_are_still_checked(synced):
    soap_only = synced.sandbox.state.add_token(
        ["CompanyService.List_GetAll", "CompanyService.Run_GetList"], companies=[101, 103]
    )
    nmbrs = NmbrsResource(warehouse=WarehouseResource(database_url=synced.env["PAYROLL_DATABASE_URL"]))
    with temporary_env({"NMBRS_SOURCE_MODE": "soap", "NMBRS_TOKEN": soap_only}), nmbrs.session() as session:
        list_runs = run_lister(session)
        cursor = RunCursor(seen={})
        result = evaluate(
            companies=["101", "102", "103"],
            years=partition_years(dt.date.today()),
            list_runs=list_runs,
            cursor=cursor,
            busy=set(),
            baseline=lambda company, year: {},
        )
    assert set(result.failures) == {"102"}
    # The session maps company numbers to SOAP ids from the token's own company list, so a company
    # the token does not cover is named before any SOAP call for it (no SOAP fault 2004 to decode).
    failure = result.failures["102"]
    assert "company 102 is not among the companies the SOAP token covers" in failure and "Fix:" in failure
    world = synced.sandbox.state.world
    years = partition_years(dt.date.today())
    with_runs = {f"{c}|{y}" for c in (101, 103) for y in years if world.runs(c, y)}
    assert with_runs and {r.partition_key for r in result.run_requests} == with_runs
    assert not any(key.startswith("102|") for key in result.cursor.seen)
    assert "company 102 failed" in result.summary()


def test_january_polls_last_year_too_when_it_is_a_partition():
    assert partition_years(dt.date(YEAR, 1, 10)) == [YEAR - 1, YEAR]
    assert partition_years(dt.date(YEAR, 6, 10)) == [YEAR]
