"""The keys both APIs carry, on a generated world where the id spaces differ visibly: company number
1, 2 against SOAP company ids 101, 102; employee numbers 1.. against SOAP employee ids 101001..; REST
UUIDs for all of them (docs/nmbrs-api.md, "Keys").

- rest: the raw REST id columns hold the sandbox's UUIDs end to end, the SOAP id columns are null,
  and SOAP is never called.
- rest+soap: a company seen through both APIs is one company (one row, both ids), in the raw tables
  and in the marts.
- soap: every SOAP call takes the SOAP ids (the sandbox refuses a company number as a company id),
  and the rows are keyed on the numbers all the same.
"""

from __future__ import annotations

import uuid

import pytest

from pipelines.sandbox.rest_ids import RestIds

SCENARIO = {
    "scenario": "scale",
    "companies": 2,
    "employees_per_company": 4,
    "years": 1,
    "as_of": "2026-07-15",
}


@pytest.fixture(scope="module", params=("rest", "rest+soap", "soap"))
def synced(request, make_pipeline):
    pipeline = make_pipeline(request.param, **SCENARIO)
    result = pipeline.sync(include_dbt=request.param == "rest+soap")  # the marts: one dbt build
    assert result.success, [f"{s.name}: {s.error}" for s in result.failures]
    return request.param, pipeline


def _world(pipeline):
    world = pipeline.sandbox.state.world
    return world, RestIds(world)


def test_the_generated_world_keeps_the_id_spaces_apart(synced):
    _, pipeline = synced
    world, _ = _world(pipeline)
    companies = world.companies()
    assert [(c.number, c.id) for c in companies] == [(1, 101), (2, 102)]
    assert all(e.number != e.id for c in companies for e in world.employees(c.id))


def test_rows_are_keyed_on_the_numbers_with_each_apis_own_ids(synced):
    mode, pipeline = synced
    world, ids = _world(pipeline)
    soap, rest = mode != "rest", mode != "soap"
    companies = pipeline.query(
        "select company_id, company_number, soap_company_id, rest_company_id from nmbrs.companies order by 1"
    )
    assert companies == [
        (c.number, str(c.number), c.id if soap else None, ids.company(c) if rest else None)
        for c in world.companies()
    ]
    employees = pipeline.query(
        "select company_id, employee_id, employee_number, soap_employee_id, rest_employee_id "
        "from nmbrs.employees order by 1, 2"
    )
    assert employees == [
        (c.number, e.number, str(e.number), e.id if soap else None, ids.employee(e) if rest else None)
        for c in world.companies()
        for e in sorted(world.employees(c.id), key=lambda e: e.number)
    ]
    runs = pipeline.query(
        "select company_id, year, run_number, run_id, soap_run_id, rest_run_id from nmbrs.payroll_runs order by 1, 2, 3"
    )
    expected = [
        (
            c.number,
            r.year,
            r.number,
            r.payroll_run_id if rest else str(r.id),
            None if rest else str(r.id),
            r.payroll_run_id if rest else None,
        )
        for c in world.companies()
        for y in world.years(c.id)
        for r in sorted(world.runs(c.id, y), key=lambda r: r.number)
    ]
    assert runs == expected and runs
    if rest:  # the REST ids are the sandbox's UUIDs, as text
        for _, _, _, rest_company_id in companies:
            uuid.UUID(rest_company_id)
        for *_, rest_run_id in runs:
            assert str(uuid.UUID(rest_run_id)) == rest_run_id
    payslip_runs = {run_id for (run_id,) in pipeline.query("select distinct run_id from nmbrs.payslips")}
    assert payslip_runs == {run[3] for run in runs}
    keyed = pipeline.query("select distinct company_id from nmbrs.wage_components order by 1")
    assert keyed == [(c.number,) for c in world.companies()]
    (employees_keyed,) = pipeline.query(
        "select count(*) from nmbrs.wage_components w left join nmbrs.employees e using (company_id, employee_id) "
        "where e.employee_id is null"
    )[0]
    assert employees_keyed == 0  # every line belongs to a listed employee number
    if mode == "rest":
        assert pipeline.sandbox.state.counters.total("soap:") == 0


@pytest.mark.parametrize("synced", ["rest+soap"], indirect=True)
def test_a_company_seen_through_both_apis_is_one_company_in_the_marts(synced):
    mode, pipeline = synced
    world, _ = _world(pipeline)
    numbers = [c.number for c in world.companies()]
    assert pipeline.query("select company_id from marts.dim_companies order by 1") == [(n,) for n in numbers]
    lines = pipeline.query("select distinct company_id from marts.fct_payroll_lines order by 1")
    assert lines == [(n,) for n in numbers]
    (employees,) = pipeline.query("select count(*) from marts.dim_employees")[0]
    assert employees == sum(len(world.employees(c.id)) for c in world.companies())
