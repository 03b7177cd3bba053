"""dbt var four_weekly_allocation: `period_end` puts a four-weekly period in the month of its end date,
`days` spreads it over its calendar days; both sum back to every period to the cent."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import ROUND_FLOOR, Decimal

import pytest

from pipelines.sandbox.calendars import period_end
from tests.support import demo_raw
from tests.support.dbt import Warehouse, copy_project, run_dbt

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
MARTS = ("payroll_company_costs_monthly", "payroll_balance_sheet_postings_monthly")


@pytest.fixture(scope="module")
def by_days(dbt_demo, make_database, tmp_path_factory) -> Warehouse:
    url = make_database("payroll_alloc_days")
    demo_raw.clone_raw_tables(dbt_demo.url, url)
    project = copy_project(tmp_path_factory.mktemp("dbt-alloc-days"))
    result = run_dbt(project, url, "build", "--vars", json.dumps({"four_weekly_allocation": "days"}))
    assert result.returncode == 0, result.stdout[-3000:]
    return Warehouse(url=url, truth=dbt_demo.truth, env=dbt_demo.env)


def _period_start(period_type: str, year: int, period: int) -> dt.date:
    if period_type == "Month":
        return dt.date(year, period, 1)
    return dt.date.fromisocalendar(year, 1, 1) + dt.timedelta(days=28 * (period - 1))


def _split(amount: Decimal, start: dt.date, end: dt.date) -> dict[tuple[int, int], Decimal]:
    """Largest-remainder split of an amount over the calendar months of [start, end] by days."""
    days: dict[tuple[int, int], int] = defaultdict(int)
    day = start
    while day <= end:
        days[(day.year, day.month)] += 1
        day += dt.timedelta(days=1)
    total = (end - start).days + 1
    cents = amount / CENT
    exact = {month: cents * n / total for month, n in days.items()}
    base = {month: value.to_integral_value(ROUND_FLOOR) for month, value in exact.items()}
    leftover = int(cents - sum(base.values()))
    ranked = sorted(exact, key=lambda month: (-(exact[month] - base[month]), month))
    return {month: (base[month] + (1 if month in ranked[:leftover] else 0)) * CENT for month in days}


def _monthly(warehouse: Warehouse, mart: str) -> dict[tuple[int, int, int, str], Decimal]:
    return {
        (company, year, month, account): amount
        for company, year, month, account, amount in warehouse.query(
            f"select company_id, year, month, gl_account, amount from marts.{mart}"  # noqa: S608 - fixed names
        )
    }


@pytest.mark.parametrize("mart", MARTS)
def test_days_spreads_each_four_weekly_period_by_its_days_exact_to_the_cent(dbt_demo, by_days, mart):
    statement = "PL" if mart == MARTS[0] else "BS"
    expected: dict[tuple[int, int, int, str], Decimal] = defaultdict(lambda: ZERO)
    periods = dbt_demo.query(
        "select company_id, period_type, year, period, gl_account, sum(signed_amount) from marts.fct_payroll_lines "
        "where not is_hidden and statement = %s group by 1, 2, 3, 4, 5",
        (statement,),
    )
    for company, period_type, year, period, account, amount in periods:
        start, end = _period_start(period_type, year, period), period_end(period_type, year, period)
        split = _split(amount, start, end)
        assert sum(split.values(), ZERO) == amount  # every period sums back to the cent
        for (cal_year, month), share in split.items():
            expected[(company, cal_year, month, account)] += share
    assert _monthly(by_days, mart) == dict(expected)


@pytest.mark.parametrize("mart", MARTS)
def test_both_allocations_hold_the_same_money_and_leave_monthly_companies_alone(dbt_demo, by_days, mart):
    period_end_rows, days_rows = _monthly(dbt_demo, mart), _monthly(by_days, mart)
    for rows in (period_end_rows, days_rows):
        totals: dict[tuple[int, str], Decimal] = defaultdict(lambda: ZERO)
        for (company, _, _, account), amount in rows.items():
            totals[(company, account)] += amount
        rows["totals"] = dict(totals)
    assert period_end_rows.pop("totals") == days_rows.pop("totals")
    monthly = {101, 103}
    assert {k: v for k, v in period_end_rows.items() if k[0] in monthly} == {
        k: v for k, v in days_rows.items() if k[0] in monthly
    }
    four_weekly = {k: v for k, v in days_rows.items() if k[0] == 102}
    assert four_weekly != {k: v for k, v in period_end_rows.items() if k[0] == 102}


def test_the_month_holding_two_periods_is_named_on_both_allocations(dbt_demo, by_days):
    first_year = min(d.year for d in dbt_demo.truth.erp_differences)
    query = (
        "select payroll_periods from marts.payroll_company_costs_monthly "
        "where company_id = 102 and year = %s and month = 11 and gl_account = '4000'"
    )
    assert dbt_demo.query(query, (first_year,)) == [(f"{first_year} P11 (4-wk), {first_year} P12 (4-wk)",)]
    [(spread,)] = by_days.query(query, (first_year,))
    # Under `days` November names every loaded period with days in it: the two ending there, and the
    # next one once it has been run and starts before December (it has in January, not yet on 1 December).
    first, last = dt.date(first_year, 11, 1), dt.date(first_year, 11, 30)
    loaded = by_days.query("select distinct year, period from marts.fct_payroll_lines where company_id = 102")
    with_days = {
        f"{year} P{period} (4-wk)"
        for year, period in loaded
        if _period_start("Week4", year, period) <= last and period_end("Week4", year, period) >= first
    }
    assert len(with_days) >= 2
    assert set(spread.split(", ")) == with_days
    (one,) = by_days.query(
        "select count(*) from marts.payroll_company_costs_monthly where company_id = 102 "
        "and position(',' in payroll_periods) = 0"
    )[0]
    assert (
        one
        < by_days.query("select count(*) from marts.payroll_company_costs_monthly where company_id = 102")[0][
            0
        ]
    )


def test_an_unknown_allocation_is_refused_with_the_choices(dbt_demo, tmp_path):
    project = copy_project(tmp_path)
    result = run_dbt(
        project,
        dbt_demo.url,
        "compile",
        "--select",
        "payroll_company_costs_monthly",
        "--vars",
        json.dumps({"four_weekly_allocation": "weeks"}),
    )
    assert result.returncode != 0
    assert "var four_weekly_allocation is 'weeks'; use period_end" in result.stdout
