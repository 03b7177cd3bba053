"""The employees' department and cost-centre histories (nmbrs.employee_assignments) hold each entry
once, on the SOAP employee ids, even when Nmbrs repeats an answer's items."""

from __future__ import annotations

from pipelines.sandbox import orgstructure


def test_a_department_listing_that_repeats_an_employee_loads_each_entry_once(make_pipeline):
    pipeline = make_pipeline("rest+soap")
    sandbox = pipeline.sandbox
    rule = sandbox.state.faults.inject("rest:departments", "repeat", times=None, count=5)
    try:
        result = pipeline.sync(companies=[103], since=sandbox.state.config.as_of.year)
    finally:
        sandbox.state.faults.clear()
    assert result.success, [f"{s.name}: {s.error}" for s in result.failures]
    assert rule.fired >= 1
    world, first_year = sandbox.state.world, sandbox.state.config.first_year
    expected = {
        (company.number, employee.number, "department", a.code, a.year, a.period)  # the warehouse keys
        for company in world.companies()
        for employee in world.employees(company.id)
        for a in orgstructure.departments(company, employee, first_year)
    }
    rows = pipeline.query(
        "select company_id, employee_id, kind, code, valid_from_year, valid_from_period "
        "from nmbrs.employee_assignments where kind = 'department'"
    )
    assert sorted(rows) == sorted(expected)  # no entry twice
