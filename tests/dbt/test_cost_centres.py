"""Company costs by cost centre and by department, split by Nmbrs's journal variants or, where no
journal exists, by the employees' department and cost-centre history, add up to the company costs
to the cent."""

from __future__ import annotations

import pytest

from tests.support import demo_raw
from tests.support.dbt import Warehouse, copy_project, run_dbt

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


@pytest.fixture(scope="module")
def without_journals(dbt_demo, make_database, tmp_path_factory):
    """The demo's raw data without any journal (as in soap mode, or runs without one), and with one
    employee's department and cost-centre history removed; the cost marts built from it."""
    url = make_database("payroll_no_journals")
    demo_raw.clone_raw_tables(dbt_demo.url, url)
    built = Warehouse(url=url, truth=dbt_demo.truth, env=dbt_demo.env)
    [(company, employee)] = built.query(
        "select company_id, max(employee_id) from nmbrs.employee_assignments where company_id = "
        "(select min(company_id) from nmbrs.employee_assignments) group by 1"
    )
    built.execute("delete from nmbrs.journals")
    built.execute(
        "delete from nmbrs.employee_assignments where company_id = %s and employee_id = %s",
        (company, employee),
    )
    project = copy_project(tmp_path_factory.mktemp("dbt-no-journals"))
    selected = [f"+{mart}" for mart in (*MARTS, "payroll_company_costs_monthly")]
    result = run_dbt(project, url, "build", "--indirect-selection", "cautious", "--select", *selected)
    assert result.returncode == 0, result.stdout[-3000:]
    return built, company, employee


@pytest.mark.parametrize("mart", MARTS)
def test_without_journals_each_line_goes_to_its_employees_department_or_cost_centre(
    dbt_demo, without_journals, mart
):
    """The history gives the same split as Nmbrs's own journal variant in the demo (whose P&L set-up
    agrees with our mapping), for every company whose employees all have a history."""
    built, company, _ = without_journals
    dimension, _ = MARTS[mart]
    statement = (
        f"select company_id, year, month, gl_account, {dimension}, amount, source from marts.{mart} "  # noqa: S608
        "where company_id <> %s and amount <> 0"
    )
    history = built.query(statement, (company,))
    journal = dbt_demo.query(statement, (company,))
    assert history and {source for *_, source in history} == {"employee_history"}
    assert {tuple(row[:-1]) for row in history} == {tuple(row[:-1]) for row in journal}
    # Both histories change over time in the demo: a department move, so more than one per employee.
    (moved,) = built.query(
        "select count(*) from (select company_id, employee_id from nmbrs.employee_assignments "
        "where kind = 'department' group by 1, 2 having count(*) > 1) as moved"
    )[0]
    assert moved > 0


@pytest.mark.parametrize("mart", MARTS)
def test_without_journals_the_split_still_adds_up_and_unassigned_lines_are_one_row(without_journals, mart):
    built, company, employee = without_journals
    dimension, _ = MARTS[mart]
    mismatches = built.query(
        f"with split as (select company_id, year, month, gl_account, sum(amount) as amount from marts.{mart} "  # noqa: S608
        "  group by 1, 2, 3, 4)"
        " select * from split full outer join marts.payroll_company_costs_monthly as costs"
        "  using (company_id, year, month, gl_account)"
        " where split.amount is distinct from costs.amount"
    )
    assert mismatches == []
    unassigned = built.query(
        f"select company_id, year, month, gl_account, {dimension}, amount from marts.{mart} "  # noqa: S608
        "where source = 'unassigned'"
    )
    employees_lines = built.query(
        "select company_id, calendar_year, calendar_month, gl_account, null::text, sum(signed_amount) "
        "from marts.fct_payroll_lines where company_id = %s and employee_id = %s and statement = 'PL' "
        "and not is_hidden group by 1, 2, 3, 4",
        (company, employee),
    )
    assert employees_lines and sorted(unassigned) == sorted(employees_lines)
    assert {source for (source,) in built.query(f"select distinct source from marts.{mart}")} == {  # noqa: S608
        "employee_history",
        "unassigned",
    }
