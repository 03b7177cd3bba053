"""Company costs by cost centre and by department, split by Nmbrs's journal variants, add up to the
company costs to the cent."""

from __future__ import annotations

import pytest

MARTS = {
    "payroll_costs_by_cost_centre_monthly": ("cost_centre", "journalscostcenter"),
    "payroll_costs_by_department_monthly": ("department", "journalsdepartment"),
}


@pytest.mark.parametrize("mart", MARTS)
def test_the_split_adds_up_to_the_company_costs_to_the_cent(dbt_demo, mart):
    dimension, _ = MARTS[mart]
    mismatches = dbt_demo.query(
        f"with split as (select company_id, year, month, gl_account, sum(amount) as amount from marts.{mart} "  # noqa: S608 - fixed names
        "  group by 1, 2, 3, 4)"
        " select * from split full outer join marts.payroll_company_costs_monthly as costs"
        "  using (company_id, year, month, gl_account)"
        " where split.amount is distinct from costs.amount"
    )
    assert mismatches == []
    per_company = dbt_demo.query(
        f"select company_id, sum(amount), count(distinct {dimension}), bool_and(source = 'journal') "  # noqa: S608
        f"from marts.{mart} group by 1 order by 1"
    )
    costs = dict(
        dbt_demo.query("select company_id, sum(amount) from marts.payroll_company_costs_monthly group by 1")
    )
    assert {company: total for company, total, _, _ in per_company} == costs
    assert all(count >= 2 and from_journal for _, _, count, from_journal in per_company)


@pytest.mark.parametrize("mart", MARTS)
def test_each_cost_centre_holds_what_nmbrs_books_on_it(dbt_demo, mart):
    """On P&L accounts our mapping and Nmbrs's set-up agree in the demo, so the split is the journal's."""
    dimension, variant = MARTS[mart]
    rows = dict(
        ((company, year, period_or_month, account, dim), amount)
        for company, year, period_or_month, account, dim, amount in dbt_demo.query(
            f"select company_id, year, month, gl_account, {dimension}, amount from marts.{mart}"  # noqa: S608
        )
    )
    journal = dbt_demo.query(
        "select j.company_id, extract(year from p.period_end_date)::int, extract(month from p.period_end_date)::int, "
        "j.gl_account, j.dimension, sum(j.signed_amount) "
        "from staging.stg_nmbrs__journals j join intermediate.int_payroll_periods p "
        "on p.company_id = j.company_id and p.year = j.journal_year and p.period = j.journal_period "
        "where j.variant = %s and j.gl_account in (select gl_account from marts.payroll_company_costs_monthly) "
        "group by 1, 2, 3, 4, 5",
        (variant,),
    )
    assert journal and {tuple(key): amount for *key, amount in journal if amount != 0} == {
        key: amount for key, amount in rows.items() if amount != 0
    }
