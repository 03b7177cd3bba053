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

    added = synced.sandbox.state.add_run(101)
    assert added.year == YEAR
    second = tick(synced, first.cursor)
    assert len(second.run_requests) == 1
    request = second.run_requests[0]
    assert request.partition_key == f"101|{YEAR}"
    assert request.run_key.startswith("101:")
    assert request.run_key.endswith(added.run_at.replace(microsecond=0).isoformat())
    # The run it launches says who started it and what it is (issue 14 item 5).
    assert request.tags["payroll/started_by"] == "sensor"
    assert request.tags["payroll/run"].startswith(f"sensor: company 101, year {YEAR} (Nmbrs run ")

    # Evaluating the same Nmbrs data again launches nothing.
    assert tick(synced, second.cursor).run_requests == []

    month = added.period_end
    assert month not in months_in_costs_mart(101, YEAR)
    job = synced.definitions().resolve_job_def("nmbrs_company_year_sync")
    with synced.instance() as instance:
        outcome = job.execute_in_process(
            instance=instance, partition_key=request.partition_key, tags=request.tags, raise_on_error=False
        )
    assert outcome.success
    assert month in months_in_costs_mart(101, YEAR)
    materialized = {event.asset_key.to_user_string() for event in outcome.get_asset_materialization_events()}
    assert materialized >= {
        "nmbrs/payroll_runs",
        "payroll_company_costs_monthly",
    }

    correction = synced.sandbox.state.correct_period(101, YEAR, 3)
    third = tick(synced, second.cursor)
    assert [r.partition_key for r in third.run_requests] == [f"101|{YEAR}"]
    assert third.run_requests[0].run_key != request.run_key
    assert str(correction.payroll_run_id) in third.run_requests[0].run_key or str(correction.id) in (
        third.run_requests[0].run_key
    )


def test_while_a_partition_is_loading_the_sensor_waits_and_keeps_its_cursor(synced):
    baseline = tick(synced, None)
    key = f"103|{YEAR}"
    with synced.instance() as instance:
        blocker = dg.DagsterRun(
            job_name="nmbrs_company_year_sync",
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.STARTED,
            tags={"dagster/partition": key},
        )
        instance.add_run(blocker)
    try:
        synced.sandbox.state.add_run(103)
        waiting = tick(synced, baseline.cursor)
        assert waiting.run_requests == []
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
    assert "2004" in result.failures["102"] and "Fix:" in result.failures["102"]
    assert {r.partition_key for r in result.run_requests} == {f"101|{YEAR}", f"103|{YEAR}"}
    assert f"102|{YEAR}" not in result.cursor.seen
    assert "company 102 failed" in result.summary()


def test_january_polls_last_year_too_when_it_is_a_partition():
    assert partition_years(dt.date(YEAR, 1, 10)) == [YEAR - 1, YEAR]
    assert partition_years(dt.date(YEAR, 6, 10)) == [YEAR]
