"""Re-syncs after a correction replace only the changed company-year; faults retry to success or
stop with a clear error and leave the partition as it was; nothing secret or personal leaks."""

from __future__ import annotations

import datetime as dt
import io
import logging

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from pipelines.lib.encryption import key_ring
from tests.support.extract import TABLE_KEYS, ExtractPipeline, expected_partitions
from tests.support.runs import keep_last_run_out_of

PARTITIONED = ("nmbrs.payroll_runs", "nmbrs.wage_components", "nmbrs.payslips", "nmbrs.source_coverage")
PAYSLIP_REPORT = "soap:ReportService.Reports_GetPayslipByRunCompany_v2_Background"
WAGE_REPORT = "soap:ReportService.Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background"


@pytest.fixture(scope="module")
def pipeline(make_pipeline):
    """A rest+soap pipeline synced once with every logger at DEBUG; the captured text is kept."""
    pipeline = make_pipeline("rest+soap")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        result = pipeline.sync()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert result.success, [f"{s.name}: {s.error}" for s in result.failures]
    pipeline.first_result = result
    pipeline.debug_log = buffer.getvalue()
    return pipeline


@pytest.fixture(scope="module")
def soap_pipeline(make_pipeline):
    """A soap pipeline synced once: the SOAP runs and reports (this module's report faults) are read
    in source mode soap only; rest and rest+soap read the REST run output."""
    pipeline = make_pipeline("soap")
    result = pipeline.sync()
    assert result.success, [f"{s.name}: {s.error}" for s in result.failures]
    return pipeline


def _run_ids(pipeline) -> dict[tuple[str, int, int], set[str]]:
    found = {}
    for table in PARTITIONED:
        for cid, year, run_id in pipeline.query(
            f"select distinct company_id, year, _dagster_run_id from {table}"  # noqa: S608 (constant table names)
        ):
            found.setdefault((table, cid, year), set()).add(run_id)
    return found


def _partition_hash(pipeline, table: str, company_id: int, year: int) -> list[tuple]:
    return pipeline.query(
        f"select * from {table} where company_id = %s and year = %s order by 1, 2, 3, 4, 5, 6",  # noqa: S608
        (company_id, year),
    )


@pytest.mark.security
def test_no_bsn_birth_date_or_secret_in_logs_event_log_or_tables(pipeline):
    state = pipeline.sandbox.state
    people = [e for c in state.world.companies() for e in state.world.employees(c.id)]
    secrets = {
        pipeline.env[name] for name in ("NMBRS_TOKEN", "NMBRS_CLIENT_SECRET", "NMBRS_SUBSCRIPTION_KEY")
    }
    with pipeline.active():  # its key file
        ring = key_ring()
        for refresh_token, access_token in pipeline.query(
            "select refresh_token, access_token from payroll_private.oauth_tokens"
        ):
            secrets |= {refresh_token, access_token, ring.decrypt(refresh_token), ring.decrypt(access_token)}
    secrets.discard(None)
    forbidden = secrets | {p.bsn for p in people} | {p.birth_date.isoformat() for p in people}
    assert len(forbidden) > len(people)

    texts = {"debug log": pipeline.debug_log}
    with pipeline.active(), dg.DagsterInstance.get() as instance:
        for step in pipeline.first_result.steps:
            texts[f"event log {step.name}"] = "\n".join(
                serialize_value(e) for e in instance.all_logs(step.run_id)
            )
    raw = pipeline.query("select string_agg(t::text, ' ') from (select * from nmbrs.employees) t")[0][0]
    texts["nmbrs.employees"] = raw
    assert "DEBUG" in pipeline.debug_log  # the capture did see debug output
    for where, text in texts.items():
        leaked = sorted(value for value in forbidden if value in text)
        assert not leaked, f"{len(leaked)} secret/personal value(s) found in {where}"
    assert pipeline.query("select count(*) from nmbrs_restricted.employee_personal") == [(0,)]
    assert pipeline.query("select count(*), count(display_name) from nmbrs.employees")[0][0] == len(people)


def test_correction_resync_replaces_only_that_partition(soap_pipeline):
    pipeline = soap_pipeline
    state = pipeline.sandbox.state
    year = min(state.world.years(101))
    if keep_last_run_out_of(state, 101, year):  # in January: so that the correction locks no run of `year`
        assert pipeline.sync().success
    before = _run_ids(pipeline)
    old_runs = {
        n
        for (n,) in pipeline.query(
            "select run_number from nmbrs.payslips where company_id = 101 and year = %s group by 1", (year,)
        )
    }
    correction = state.correct_period(101, year, 3)
    state.counters.reset()

    result = pipeline.sync()

    assert result.success, [f"{s.name}: {s.error}" for s in result.failures]
    after = _run_ids(pipeline)
    changed = {key for key in after if after[key] != before.get(key)}
    assert {(table, cid, y) for table, cid, y in changed} == {
        ("nmbrs.payroll_runs", 101, year),
        ("nmbrs.wage_components", 101, year),
        ("nmbrs.payslips", 101, year),
        ("nmbrs.source_coverage", 101, year),
    }
    # Payslips of the earlier runs were not fetched again: only the correction run's lines are new.
    rewritten = {
        n
        for (n,) in pipeline.query(
            "select distinct run_number from nmbrs.payslips where company_id = 101 and year = %s "
            "and _dagster_run_id <> all(%s)",
            (year, list(before[("nmbrs.payslips", 101, year)])),
        )
    }
    assert rewritten == {correction.number} and correction.number not in old_runs
    assert state.counters.calls[PAYSLIP_REPORT] == 1
    assert state.counters.calls[WAGE_REPORT] == 1
    truth = state.truth
    for table in ("wage_components", "payslips"):
        assert (
            pipeline.partition_figures(f"nmbrs.{table}")[(101, year)]
            == expected_partitions(truth, table, [101], [year])[(101, year)]
        )


# The transient faults of each source mode, on the calls that mode makes: rest+soap reads the runs and
# the run output over REST (documents), soap the runs and the reports over SOAP.
TRANSIENT_FAULTS = {
    "rest+soap": (
        ("rest:runs", "503", {}),
        ("rest:run_output", "task_error", {}),
        ("rest:documents", "reset", {"after": 1}),
        ("rest:documents", "truncate", {"after": 4}),
    ),
    "soap": (
        ("soap:CompanyService.Run_GetList", "500", {}),
        (PAYSLIP_REPORT, "task_error", {}),
        ("soap:ReportService.Reports_BackgroundTask_Result", "reset", {"after": 1}),
        ("soap:ReportService.Reports_BackgroundTask_Result", "truncate", {"after": 4}),
    ),
}


@pytest.mark.parametrize("mode", sorted(TRANSIENT_FAULTS))
def test_transient_faults_retry_to_success(request, mode):
    pipeline = request.getfixturevalue("pipeline" if mode == "rest+soap" else "soap_pipeline")
    state = pipeline.sandbox.state
    year = max(state.world.years(102))
    state.add_run(102, year)
    for key, kind, params in TRANSIENT_FAULTS[mode]:
        state.faults.inject(key, kind, **params)

    result = pipeline.sync(companies=[102], since=year)

    assert result.success, [f"{s.name}: {s.error}" for s in result.failures]
    assert all(rule.exhausted for rule in state.faults.rules())
    assert sum(step.retries for step in result.steps) >= 1  # the failed task re-ran the step
    for table in ("wage_components", "payslips"):
        assert (
            pipeline.partition_figures(f"nmbrs.{table}")[(102, year)]
            == expected_partitions(state.truth, table, [102], [year])[(102, year)]
        )
    assert pipeline.duplicates("nmbrs.payslips") == 0
    state.faults.clear()


def _with_env(pipeline, **overrides):
    return ExtractPipeline(pipeline.sandbox, {**pipeline.env, **overrides}, pipeline.database_url)


def test_missing_permission_fails_fast_and_keeps_the_partition(soap_pipeline):
    pipeline = soap_pipeline
    from pipelines.sandbox.contract import ALL_OPERATIONS

    state = pipeline.sandbox.state
    year = max(state.world.years(103))
    operation = "ReportService.Reports_GetPayslipByRunCompany_v2_Background"
    token = state.add_token(ALL_OPERATIONS - {operation})
    limited = _with_env(pipeline, NMBRS_TOKEN=token)
    before = {table: _partition_hash(pipeline, table, 103, year) for table in PARTITIONED}
    state.add_run(103, year)

    result = limited.sync(companies=[103], since=year)

    assert not result.success
    (failure,) = result.failures
    assert failure.partition == f"103|{year}"
    assert operation in failure.error and "API user templates" in failure.error
    assert failure.retries == 0  # a permission error is not retried
    assert token not in failure.error and token not in (failure.error_detail or "")
    assert {table: _partition_hash(pipeline, table, 103, year) for table in PARTITIONED} == before

    healed = pipeline.sync(companies=[103], since=year)  # the full-permission token loads the new run
    assert healed.success
    assert (
        pipeline.partition_figures("nmbrs.payslips")[(103, year)]
        == expected_partitions(state.truth, "payslips", [103], [year])[(103, year)]
    )


def test_report_task_past_the_deadline_stops_with_a_clear_error(soap_pipeline):
    pipeline = soap_pipeline
    state = pipeline.sandbox.state
    year = max(state.world.years(101))
    impatient = _with_env(pipeline, NMBRS_REPORT_DEADLINE_SECONDS="2")
    before = {table: _partition_hash(pipeline, table, 101, year) for table in PARTITIONED}
    state.add_run(101, year)
    state.faults.inject(PAYSLIP_REPORT, "task_slow", times=None, seconds=60)
    try:
        started = dt.datetime.now()
        result = impatient.sync(companies=[101], since=year)
    finally:
        state.faults.clear()

    assert not result.success
    (failure,) = result.failures
    assert "were not ready after 2 s" in failure.error and "NMBRS_REPORT_DEADLINE_SECONDS" in failure.error
    assert (dt.datetime.now() - started).total_seconds() < 60
    assert {table: _partition_hash(pipeline, table, 101, year) for table in PARTITIONED} == before


def test_tables_have_no_duplicates_after_all_of_it(pipeline):
    assert {table: pipeline.duplicates(table) for table in TABLE_KEYS} == dict.fromkeys(TABLE_KEYS, 0)


@pytest.mark.security
def test_personal_data_only_on_opt_in_and_only_in_the_restricted_schema(pipeline):
    state = pipeline.sandbox.state
    people = {  # on the warehouse keys: company and employee numbers
        (c.number, e.number): e for c in state.world.companies() for e in state.world.employees(c.id)
    }
    year = max(state.world.years(103))

    opted_in = _with_env(pipeline, PAYROLL_STORE_PERSONAL_DATA="true").sync(companies=[103], since=year)

    assert opted_in.success
    stored = pipeline.query(
        "select company_id, employee_id, bsn, birth_date from nmbrs_restricted.employee_personal"
    )
    assert {(c, e): (bsn, born) for c, e, bsn, born in stored} == {
        key: (p.bsn, p.birth_date) for key, p in people.items()
    }
    columns = {
        name
        for (name,) in pipeline.query(
            "select column_name from information_schema.columns where table_schema = 'nmbrs'"
        )
    }
    assert not columns & {"bsn", "birth_date", "birthday", "email_work"}

    opted_out = pipeline.sync(companies=[103], since=year)

    assert opted_out.success
    assert pipeline.query("select count(*) from nmbrs_restricted.employee_personal") == [(0,)]
