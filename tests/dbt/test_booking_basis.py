"""dbt var booking_basis: `period` books a line in the month of the period it pays, `run` in the month
of the payroll run that booked it, so the demo's correction of March (run after May's payroll,
pipelines/sandbox/world.py DEMO_CORRECTION) lands in March or in the correction run's month."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal

import pytest

from pipelines.sandbox import erp, ledger
from pipelines.sandbox.world import DEMO_CORRECTION
from tests.support import demo_raw
from tests.support.dbt import Warehouse, copy_project, run_dbt

ZERO = Decimal("0.00")
ENTITIES = {101: "NL01", 102: "NL02", 103: "NL03"}


@pytest.fixture(scope="module")
def by_run(dbt_demo, make_database, tmp_path_factory) -> Warehouse:
    """A copy of the demo's raw data built with booking_basis = run."""
    url = make_database("payroll_booking_run")
    demo_raw.clone_raw_tables(dbt_demo.url, url)
    project = copy_project(tmp_path_factory.mktemp("dbt-booking-run"))
    result = run_dbt(project, url, "build", "--vars", json.dumps({"booking_basis": "run"}))
    assert result.returncode == 0, result.stdout[-3000:]
    return Warehouse(url=url, truth=dbt_demo.truth, env=dbt_demo.env)


def _three_way(warehouse: Warehouse) -> dict[tuple[str, int, int, str], tuple]:
    return {
        (entity, year, month, account): (payroll, journal, status, basis)
        for entity, year, month, account, payroll, journal, status, basis in warehouse.query(
            "select erp_entity, year, month, gl_account, payroll_amount, journal_amount, status, booking_basis "
            "from marts.payroll_three_way_reconciliation"
        )
    }


def _expected_by_run_month(warehouse: Warehouse) -> dict[tuple[str, int, int, str], Decimal]:
    """Every payslip line (a correction: its differences) posted by the sandbox's default mapping in
    the calendar month of its run, computed here from the raw tables."""
    expected: dict[tuple[str, int, int, str], Decimal] = defaultdict(lambda: ZERO)
    for company_id, run_at, code, value in warehouse.query(
        "select p.company_id, r.run_at, p.code, p.value from nmbrs.payslips p "
        "join nmbrs.payroll_runs r using (company_id, year, run_number)"
    ):
        for account, sign in erp.mapping_for(company_id, code):
            expected[(ENTITIES[company_id], run_at.year, run_at.month, account)] += value * sign
    return dict(expected)


def _correction(warehouse: Warehouse, year: int):
    [(number, run_at)] = warehouse.query(
        "select run_number, run_at from nmbrs.payroll_runs where company_id = %s and year = %s "
        "and run_type = 'correction'",
        (DEMO_CORRECTION["company_id"], year),
    )
    [(salary_delta,)] = warehouse.query(
        "select sum(value) from nmbrs.payslips where company_id = %s and year = %s and run_number = %s "
        "and code = '1000'",
        (DEMO_CORRECTION["company_id"], year, number),
    )
    return run_at, salary_delta


def test_run_basis_books_every_run_in_its_own_month_to_the_cent(by_run):
    rows = _three_way(by_run)
    assert {basis for *_, basis in rows.values()} == {"run"}
    expected = _expected_by_run_month(by_run)
    got = {key: payroll for key, (payroll, *_) in rows.items() if payroll != 0}
    assert got == {key: amount for key, amount in expected.items() if amount != 0}
    # Nmbrs's journal is booked by the same rule: it agrees except where its ledger set-up differs.
    diff = ledger.NMBRS_DIFFERENCE
    disagreeing = {key for key, (payroll, journal, *_) in rows.items() if payroll != journal}
    assert {(entity, month, account) for entity, _, month, account in disagreeing} == {
        ("NL01", diff.period, diff.mapping_account),
        ("NL01", diff.period, diff.nmbrs_account),
    }


def test_a_correction_lands_in_the_period_month_or_in_the_run_month(dbt_demo, by_run):
    year = min(d.year for d in dbt_demo.truth.erp_differences)
    run_at, salary_delta = _correction(by_run, year)
    corrected_month = DEMO_CORRECTION["period"]
    assert salary_delta != 0 and (run_at.year, run_at.month) != (year, corrected_month)
    by_period = _three_way(dbt_demo)
    runs = _three_way(by_run)
    march = ("NL01", year, corrected_month, "4000")
    booked = ("NL01", run_at.year, run_at.month, "4000")
    assert {by_period[march][3], by_period[booked][3]} == {"period"}
    # period: the correction is in March; run: it moves to the month of the correction run.
    assert runs[march][0] == by_period[march][0] - salary_delta
    assert runs[booked][0] == by_period[booked][0] + salary_delta
    # The demo ERP books per period, so under `run` it differs from the journal in both months.
    assert by_period[march][2] == "matched" and runs[march][2] == "erp_differs_from_journal"
    assert runs[booked][2] == "erp_differs_from_journal"
    # Nothing is lost: each account's total over all months is the same on both bases.
    for basis_rows in (by_period, runs):
        totals: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        for (entity, _, _, account), (payroll, *_) in basis_rows.items():
            totals[(entity, account)] += payroll
        basis_rows["totals"] = dict(totals)
    assert by_period["totals"] == runs["totals"]


def test_an_unknown_booking_basis_is_refused_with_the_choices(dbt_demo, tmp_path):
    project = copy_project(tmp_path)
    result = run_dbt(
        project,
        dbt_demo.url,
        "compile",
        "--select",
        "int_payroll_component_lines_booked",
        "--vars",
        json.dumps({"booking_basis": "weekly"}),
    )
    assert result.returncode != 0
    assert "var booking_basis is 'weekly'; use period" in result.stdout
