"""The marts on the sandbox demo, after one shared `dbt build` (through the Dagster assets)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import psycopg2
import pytest

from pipelines.sandbox.calendars import period_month
from pipelines.sandbox.generator import run_periods
from tests.support.dbt import materialize_erp_and_dbt

HIDDEN_CODES = {"9900", "9910"}


def test_reconciliation_is_matched_except_the_deliberate_erp_differences(dbt_demo):
    rows = dbt_demo.query(
        "select company_id, erp_entity, year, month, gl_account, status, payroll_amount, erp_amount, difference "
        "from marts.payroll_gl_reconciliation where status <> 'matched'"
    )
    expected = dbt_demo.truth.erp_differences
    assert {d.kind for d in expected} == {"difference", "missing_in_erp", "missing_in_payroll"}
    assert sorted(rows) == sorted(
        (
            d.company_id,
            d.entity,
            d.year,
            d.month,
            d.account,
            d.kind,
            d.payroll_amount or Decimal("0.00"),
            d.erp_amount or Decimal("0.00"),
            d.difference,
        )
        for d in expected
    )
    first_year = min(d.year for d in expected)
    by_kind = {row[5]: row for row in rows}
    assert by_kind["difference"][:5] == (101, "NL01", first_year, 6, "4000")
    assert by_kind["difference"][8] == Decimal("-100.00")
    assert by_kind["missing_in_erp"][:5] == (102, "NL02", first_year, 3, "4100")
    assert by_kind["missing_in_payroll"][:5] == (103, "NL03", first_year, 12, "4200")
    assert by_kind["missing_in_payroll"][7] == Decimal("250.00")
    matched = dbt_demo.query("select count(*) from marts.payroll_gl_reconciliation where status = 'matched'")[
        0
    ][0]
    assert matched == len(dbt_demo.truth.gl) - 2  # every other payroll month × account agrees


def test_payroll_lines_equal_the_generated_totals_to_the_cent(dbt_demo):
    gl = dbt_demo.query(
        "select company_id, calendar_year, calendar_month, gl_account, sum(signed_amount) "
        "from marts.fct_payroll_lines where not is_hidden group by 1, 2, 3, 4"
    )
    assert {(c, y, m, a): v for c, y, m, a, v in gl} == dbt_demo.truth.gl

    per_period = dbt_demo.query(
        "select company_id, year, period, sum(amount) from ("
        "  select distinct company_id, employee_id, year, period, wage_component_code, amount"
        "  from marts.fct_payroll_lines where not is_hidden) as lines group by 1, 2, 3"
    )
    expected: dict[tuple[int, int, int], Decimal] = defaultdict(lambda: Decimal("0.00"))
    for line in dbt_demo.truth.wage_component_lines:
        if line.code not in HIDDEN_CODES:
            expected[(line.company_id, line.year, line.period)] += line.value
    assert {(c, y, p): v for c, y, p, v in per_period} == dict(expected)


@pytest.mark.parametrize(
    ("statement", "mart"),
    [("PL", "payroll_company_costs_monthly"), ("BS", "payroll_balance_sheet_postings_monthly")],
)
def test_monthly_postings_are_the_payroll_lines_of_their_statement_per_month(dbt_demo, statement, mart):
    mismatches = dbt_demo.query(
        "with lines as (select company_id, calendar_year as year, calendar_month as month, gl_account,"  # noqa: S608 - fixed names
        "  sum(signed_amount) as amount from marts.fct_payroll_lines"
        "  where not is_hidden and statement = %s group by 1, 2, 3, 4)"
        f" select * from lines full outer join marts.{mart} as postings"
        "  using (company_id, year, month, gl_account)"
        " where lines.amount is distinct from postings.amount",
        (statement,),
    )
    assert mismatches == []
    (count,) = dbt_demo.query(f"select count(*) from marts.{mart}")[0]  # noqa: S608 - fixed names
    assert count > 0


def test_company_costs_are_the_pl_side_and_never_cancel_to_zero(dbt_demo):
    """P&L costs and balance-sheet postings cancel out together; costs alone are the payroll's cost."""
    totals = dict(
        dbt_demo.query(
            "select 'costs', sum(amount) from marts.payroll_company_costs_monthly union all "
            "select 'balance_sheet', sum(amount) from marts.payroll_balance_sheet_postings_monthly"
        )
    )
    assert totals["costs"] > 0
    assert totals["costs"] + totals["balance_sheet"] == 0  # every cost is owed to someone


def test_four_weekly_periods_are_labelled_as_periods_and_months_as_months(dbt_demo):
    labels = dict(
        dbt_demo.query(
            "select distinct period_type || ' ' || year || ' ' || period, period_label "
            "from marts.fct_payroll_lines"
        )
    )
    first_year = min(d.year for d in dbt_demo.truth.erp_differences)
    assert labels[f"Week4 {first_year} 12"] == f"{first_year} P12 (4-wk)"
    assert labels[f"Month {first_year} 11"] == f"{first_year}-11"
    november = dbt_demo.query(
        "select distinct payroll_periods from marts.payroll_company_costs_monthly "
        "where company_id = 102 and year = %s and month = 11",
        (first_year,),
    )
    assert november == [(f"{first_year} P11 (4-wk), {first_year} P12 (4-wk)",)]
    labels = dbt_demo.query(
        "select distinct company_name, erp_entity, gl_account, gl_account_name, statement "
        "from marts.payroll_company_costs_monthly where company_id = 103 and gl_account = '4000'"
    )
    assert labels == [("Studio O'Brien; Design", "NL03", "4000", "Salarissen", "PL")]


def test_four_weekly_company_reconciles_by_period_end_month(dbt_demo, sandbox):
    periods = dbt_demo.query(
        "select distinct year, period, calendar_year, calendar_month, period_end_date "
        "from marts.fct_payroll_lines where company_id = 102"
    )
    # Every period the sandbox has run: a full previous year (13) and this year's ended so far.
    config = sandbox.state.config
    assert {(p[0], p[1]) for p in periods} >= set(run_periods(config, sandbox.state.world.company(102)))
    assert len(periods) >= 13
    for year, period, cal_year, cal_month, end_date in periods:
        assert (cal_year, cal_month) == period_month("Week4", year, period)
        assert (end_date.year, end_date.month) == (cal_year, cal_month)
    first_year = min(p[0] for p in periods)
    november = sorted(p[1] for p in periods if p[0] == first_year and p[3] == 11)
    assert len(november) == 2  # 13 four-weekly periods in 12 months: one month holds two
    statuses = dbt_demo.query(
        "select status, count(*) from marts.payroll_gl_reconciliation where company_id = 102 group by 1"
    )
    assert dict(statuses).keys() == {"matched", "missing_in_erp"}
    assert dict(statuses)["missing_in_erp"] == 1
    two_period_month = dbt_demo.query(
        "select payroll_amount, erp_amount, status from marts.payroll_gl_reconciliation "
        "where company_id = 102 and year = %s and month = 11 and gl_account = '4000'",
        (first_year,),
    )
    raw = dbt_demo.query(
        "select sum(value) from nmbrs.wage_components where company_id = 102 and year = %s "
        "and period = any(%s) and code = '1000'",
        (first_year, november),
    )[0][0]
    assert two_period_month == [(raw, raw, "matched")]


def test_component_on_both_statements_posts_to_both_with_opposite_signs(dbt_demo):
    rows = dbt_demo.query(
        "select statement, gl_account, sign, amount, signed_amount from marts.fct_payroll_lines "
        "where company_id = 101 and wage_component_code = '5000' "
        "and (employee_id, year, period) = (select employee_id, year, period from marts.fct_payroll_lines "
        "  where company_id = 101 and wage_component_code = '5000' order by 1, 2, 3 limit 1) "
        "order by statement"
    )
    assert [(s, a, sign) for s, a, sign, _, _ in rows] == [("BS", "1500", -1), ("PL", "4100", 1)]
    amount = rows[0][3]
    assert amount > 0 and rows[1][3] == amount
    assert (rows[0][4], rows[1][4]) == (-amount, amount)
    override = dbt_demo.query(
        "select distinct company_id, gl_account, mapping_scope from marts.fct_payroll_lines "
        "where wage_component_code = '1100' order by 1"
    )
    assert override == [(101, "4010", "general"), (102, "4011", "company"), (103, "4010", "general")]


def test_marts_carry_run_source_and_coverage(dbt_demo):
    rows = dbt_demo.query(
        "select count(*), count(run_id), bool_and(coverage = 'complete'), bool_or(is_rest_only) "
        "from marts.fct_payroll_lines"
    )
    total, with_run, complete, rest_only = rows[0]
    assert total > 0 and with_run == total and complete and not rest_only
    corrected = dbt_demo.query(
        "select distinct f.run_id, r.run_type from marts.fct_payroll_lines f join nmbrs.payroll_runs r "
        "on r.company_id = f.company_id and r.year = f.year and r.run_id = f.run_id "
        "where f.company_id = 101 and f.period = 3 and f.year = (select min(year) from marts.fct_payroll_lines)"
    )
    assert [t for _, t in corrected] == ["correction"]  # the correction run made after period 5


def test_payslips_over_runs_equal_the_period_report(dbt_demo):
    disagreements = dbt_demo.query(
        "with p as (select company_id, year, period, employee_id, wage_component_code, sum(amount) as amount "
        "  from marts.fct_payslip_lines group by 1, 2, 3, 4, 5) "
        "select * from p full outer join ("
        "  select company_id, year, period, employee_id, code as wage_component_code, value as amount"
        "  from nmbrs.wage_components) as r using (company_id, year, period, employee_id, wage_component_code) "
        "where p.amount is distinct from r.amount"
    )
    assert disagreements == []
    correction_lines = dbt_demo.query(
        "select count(*) from marts.fct_payslip_lines where run_type = 'correction'"
    )[0][0]
    assert correction_lines > 0


def test_dimensions_hold_no_personal_identifiers(dbt_demo):
    columns = {
        row[0]
        for row in dbt_demo.query(
            "select column_name from information_schema.columns where table_schema in "
            "('marts', 'staging', 'intermediate')"
        )
    }
    assert not columns & {"bsn", "birth_date", "birthday", "email_work", "email"}
    employees = dbt_demo.query("select count(*) from marts.dim_employees")[0][0]
    assert employees == dbt_demo.truth.employees
    statuses = dict(
        dbt_demo.query("select mapping_status, count(*) from marts.dim_wage_components group by 1")
    )
    assert statuses.keys() == {"mapped", "hidden"}
    assert dbt_demo.query("select count(*) from marts.unmapped_wage_components")[0][0] == 0


def test_bi_role_reads_marts_only(dbt_demo):
    conn = psycopg2.connect(dbt_demo.url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("set role payroll_bi")
            cur.execute("select count(*) from marts.payroll_gl_reconciliation")
            assert cur.fetchone()[0] > 0
            for relation in (
                "nmbrs.wage_components",
                "erp.gl_movements",
                "staging.stg_nmbrs__employees",
                "intermediate.int_payroll_periods",
                "nmbrs_restricted.employee_personal",
            ):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(f"select 1 from {relation} limit 1")  # noqa: S608 - fixed names
    finally:
        conn.close()


def test_second_build_on_unchanged_data_gives_identical_marts(dbt_demo):
    before = dbt_demo.marts_hash()
    assert materialize_erp_and_dbt().success
    assert dbt_demo.marts_hash() == before
