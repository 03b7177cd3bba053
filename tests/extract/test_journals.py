"""`nmbrs/journals`: Nmbrs's own journal of every run, loaded through REST documents per company-year,
refetched only for new or changed runs, and an unbalanced journal flagged by an asset check."""

from __future__ import annotations

from decimal import Decimal

import dagster as dg
import pytest

from pipelines.defs import keys
from pipelines.defs.nmbrs.partitions import company_year_key
from tests.support.runs import keep_last_run_out_of

JOURNALS = "rest:journals"


@pytest.fixture(scope="module")
def pipeline(make_pipeline):
    pipeline = make_pipeline("rest+soap")
    result = pipeline.sync()
    assert result.success, [f"{s.name}: {s.error}" for s in result.failures]
    return pipeline


def _check_evaluation(pipeline, partition: str):
    with pipeline.active():
        instance = dg.DagsterInstance.get()
        try:
            check = dg.AssetCheckKey(keys.JOURNALS, "journals_balanced")
            records = instance.event_log_storage.get_asset_check_execution_history(check, limit=50)
            for record in records:
                evaluation = record.event.dagster_event.event_specific_data if record.event else None
                if evaluation is not None and getattr(evaluation, "partition", None) == partition:
                    return evaluation
        finally:
            instance.dispose()
    return None


def test_every_run_has_its_journal_in_each_variant_balanced_on_nmbrs_accounts(pipeline):
    world = pipeline.sandbox.state.world
    runs = {
        (cid, year, number): run_id
        for cid, year, number, run_id in pipeline.query(
            "select company_id, year, run_number, run_id from nmbrs.payroll_runs"
        )
    }
    loaded = pipeline.query(
        "select company_id, year, run_number, run_id, variant, company_number, "
        "sum(case when side = 'debit' then amount else -amount end), count(*) "
        "from nmbrs.journals group by 1, 2, 3, 4, 5, 6"
    )
    assert {(c, y, n, v) for c, y, n, _, v, _, _, _ in loaded} == {
        (*key, variant) for key in runs for variant in keys.JOURNAL_VARIANTS
    }
    for cid, year, number, run_id, _variant, company_number, balance, lines in loaded:
        assert run_id == runs[(cid, year, number)]  # the REST payrollRunId, as text
        assert len(run_id) == 36 and not run_id.isdigit()
        assert company_number == str(world.company(cid).number)
        assert balance == 0 and lines > 0
    # Nmbrs's ledger set-up, not our CSV: employee social security is credited on 1510.
    (accounts,) = pipeline.query("select array_agg(distinct gl_account) from nmbrs.journals")[0]
    assert "1510" in accounts
    # The total journal of a year debits exactly the year's gross pay plus employer charges.
    year = pipeline.sandbox.state.config.first_year
    (debit,) = pipeline.query(
        "select sum(amount) from nmbrs.journals where company_id = 101 and year = %s "
        "and variant = 'journals' and side = 'debit'",
        (year,),
    )[0]
    truth = pipeline.sandbox.state.truth
    expected = sum(
        (truth.total("wage_components", 101, year, code=c) for c in ("1000", "1100", "5000", "5100")),
        Decimal("0.00"),
    )
    assert debit == expected
    # Cost centre and department variants carry the dimension; the total journal does not.
    dims = dict(
        pipeline.query("select variant, bool_and(dimension is not null) from nmbrs.journals group by 1")
    )
    assert dims == {"journals": False, "journalscostcenter": True, "journalsdepartment": True}


def test_a_second_sync_fetches_no_journal_and_a_correction_only_its_own(pipeline):
    state = pipeline.sandbox.state
    year = state.config.first_year
    if keep_last_run_out_of(state, 101, year):  # in January: so that the correction locks no run of `year`
        assert pipeline.sync().success
    before = pipeline.content_hash("nmbrs.journals")
    state.counters.reset()
    result = pipeline.sync()
    assert result.success, [f"{s.name}: {s.error}" for s in result.failures]
    assert state.counters.calls[JOURNALS] == 0
    assert pipeline.content_hash("nmbrs.journals") == before

    correction = state.correct_period(101, year, 3)
    state.counters.reset()
    result = pipeline.sync()
    assert result.success, [f"{s.name}: {s.error}" for s in result.failures]
    assert state.counters.calls[JOURNALS] == len(keys.JOURNAL_VARIANTS)  # the correction run only
    rows = pipeline.query(
        "select variant, journal_period, sum(case when side = 'debit' then amount else -amount end) "
        "from nmbrs.journals where company_id = 101 and year = %s and run_number = %s group by 1, 2",
        (year, correction.number),
    )
    assert {(v, p) for v, p, _ in rows} == {(v, 3) for v in keys.JOURNAL_VARIANTS}
    assert all(balance == 0 for _, _, balance in rows)


def test_an_unbalanced_journal_is_flagged_by_the_asset_check(pipeline):
    state = pipeline.sandbox.state
    year = state.config.first_year
    if keep_last_run_out_of(state, 102, year):  # so that the one unbalanced journal is the correction's
        assert pipeline.sync().success
    correction = state.correct_period(102, year, 5)
    state.faults.inject(JOURNALS, "journal_unbalanced", delta="0.05")
    result = pipeline.sync()
    assert result.success, [f"{s.name}: {s.error}" for s in result.failures]
    (balance,) = pipeline.query(
        "select sum(case when side = 'debit' then amount else -amount end) from nmbrs.journals "
        "where company_id = 102 and year = %s and run_number = %s and variant = 'journals'",
        (year, correction.number),
    )[0]
    assert balance == Decimal("0.05")  # loaded as Nmbrs served it: nothing is corrected or dropped

    evaluation = _check_evaluation(pipeline, str(company_year_key(102, year)))
    assert evaluation is not None and evaluation.passed is False
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert f"run(s) {correction.number} " in evaluation.description
    assert "debit <> credit" in evaluation.description
    other = _check_evaluation(pipeline, str(company_year_key(101, year)))
    assert other is not None and other.passed is True
