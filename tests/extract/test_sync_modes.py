"""A full sync in each source mode loads every table exactly as the sandbox generated it, and a
second (full-refresh) sync leaves identical rows."""

from __future__ import annotations

import pytest
from psycopg2 import sql

from pipelines.defs.nmbrs.partitions import company_year_key
from pipelines.sandbox import orgstructure
from tests.support.extract import TABLE_KEYS, expected_partitions

MODES = ("rest", "rest+soap", "soap")


@pytest.fixture(scope="module", params=MODES)
def synced(request, make_pipeline):
    pipeline = make_pipeline(request.param)
    result = pipeline.sync()
    assert result.success, [f"{s.name}: {s.error}" for s in result.failures]
    return request.param, pipeline, result


def _scope(pipeline):
    world = pipeline.sandbox.state.world
    companies = [c.id for c in world.companies()]
    years = sorted({y for cid in companies for y in world.years(cid)})
    return companies, years


def _sandbox_assignments(pipeline) -> set[tuple]:
    world = pipeline.sandbox.state.world
    first_year = pipeline.sandbox.state.config.first_year
    expected = set()
    for company in world.companies():
        for employee in world.employees(company.id):
            for kind, history in (
                ("department", orgstructure.departments(company, employee, first_year)),
                ("cost_centre", orgstructure.cost_centres(company, employee)),
            ):
                expected |= {  # keyed on the company and employee numbers (docs/nmbrs-api.md)
                    (company.number, employee.number, kind, a.code, a.description, a.year, a.period)
                    for a in history
                }
    return expected


def test_every_table_equals_the_sandbox_to_the_cent(synced):
    mode, pipeline, result = synced
    truth = pipeline.sandbox.state.truth
    companies, years = _scope(pipeline)

    assert pipeline.query("select count(*) from nmbrs.companies")[0][0] == truth.rows("companies")
    assert pipeline.query("select count(*) from nmbrs.employees")[0][0] == truth.rows("employees")
    assert pipeline.query("select source_mode from nmbrs.environment") == [(mode,)]
    runs = dict(
        ((c, y), n)
        for c, y, n in pipeline.query(
            "select company_id, year, count(*) from nmbrs.payroll_runs group by 1, 2"
        )
    )
    assert runs == {
        (c, y): truth.rows("payroll_runs", company_id=c, year=y)
        for c in companies
        for y in years
        if truth.rows("payroll_runs", company_id=c, year=y)
    }

    assert pipeline.partition_figures("nmbrs.wage_components") == expected_partitions(
        truth, "wage_components", companies, years
    )
    assert pipeline.partition_figures("nmbrs.payslips") == expected_partitions(
        truth, "payslips", companies, years
    )
    assert {c for (c,) in pipeline.query("select distinct coverage from nmbrs.source_coverage")} == {
        "complete"
    }
    assert pipeline.query("select count(*) from nmbrs.source_coverage")[0][0] == len(result.partitions)
    # Nmbrs's journals are REST documents: every run's journal in rest and rest+soap, none in soap.
    (journal_runs,) = pipeline.query(
        "select count(distinct (company_id, year, run_number)) from nmbrs.journals"
    )[0]
    assert journal_runs == (sum(runs.values()) if mode != "soap" else 0)
    # The employees' department and cost-centre histories are REST lists, on the employee numbers.
    assignments = set(
        pipeline.query(
            "select company_id, employee_id, kind, code, description, valid_from_year, valid_from_period "
            "from nmbrs.employee_assignments"
        )
    )
    assert assignments == (_sandbox_assignments(pipeline) if mode != "soap" else set())

    # Load columns on every row.
    for table in TABLE_KEYS:
        missing = pipeline.query(
            sql.SQL(
                "select count(*) from {} where _loaded_at is null or _dagster_run_id is null or _source is null"
            ).format(sql.Identifier(*table.split(".")))
        )
        assert missing == [(0,)], table


def test_materializations_carry_rows_mode_and_calls(synced):
    mode, pipeline, result = synced
    import dagster as dg

    with pipeline.active(), dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["nmbrs", "wage_components"]))
        metadata = {key: value.value for key, value in event.asset_materialization.metadata.items()}
    assert metadata["source_mode"] == mode
    assert {"rows", "rows_loaded", "calls_soap", "calls_rest", "partition", "drift"} <= set(metadata)
    assert metadata["partition"] == event.asset_materialization.partition
    assert (result.calls()["soap"] > 0) == (mode != "rest")
    assert (result.calls()["rest"] > 0) == (mode != "soap")
    # The last materialization of a company-year that has runs (in January this year's has none yet).
    [(company, year)] = pipeline.query(
        "select company_id, year from nmbrs.payroll_runs order by year desc, company_id limit 1"
    )
    with_runs = str(company_year_key(company, year))

    with pipeline.active(), dg.DagsterInstance.get() as instance:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(["nmbrs", "journals"]), asset_partitions=[with_runs]),
            limit=1,
        ).records
        journals = {key: value.value for key, value in records[0].asset_materialization.metadata.items()}
    if mode == "soap":
        assert journals["unavailable"] == "journals come from the REST API; source mode soap"
    else:
        assert "unavailable" not in journals and journals["rows"] > 0
    with pipeline.active(), dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["nmbrs", "employee_assignments"]))
        assignments = {key: value.value for key, value in event.asset_materialization.metadata.items()}
    if mode == "soap":
        assert (
            assignments["unavailable"]
            == "departments and cost centres come from the REST API; source mode soap"
        )
        assert assignments["rows"] == 0
    else:
        assert "unavailable" not in assignments and assignments["rows"] > 0


def test_second_sync_leaves_identical_rows_and_no_duplicates(synced):
    mode, pipeline, first = synced
    before = {table: pipeline.content_hash(table) for table in TABLE_KEYS}

    again = pipeline.sync(full_refresh=True)

    assert again.success, [f"{s.name}: {s.error}" for s in again.failures]
    assert sum(again.rows_loaded().values()) > 0  # everything was fetched and written again
    assert {table: pipeline.content_hash(table) for table in TABLE_KEYS} == before
    assert {table: pipeline.duplicates(table) for table in TABLE_KEYS} == dict.fromkeys(TABLE_KEYS, 0)


def test_unchanged_partitions_cost_one_listing_call_each(synced):
    mode, pipeline, first = synced
    counters = pipeline.sandbox.state.counters
    counters.reset()

    again = pipeline.sync()

    assert again.success
    assert again.rows_loaded().get("nmbrs/payslips", 0) == 0
    assert again.rows_loaded().get("nmbrs/wage_components", 0) == 0
    report_calls = counters.total("soap:ReportService")
    assert report_calls == 0
