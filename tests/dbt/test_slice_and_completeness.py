"""On a clone of the demo warehouse: a company-year slice build, then a build with a mapping row removed."""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal

import dagster as dg
import pytest

from pipelines.defs.dbt import assets
from pipelines.defs.resources import WarehouseResource
from pipelines.lib import dbt_slice
from pipelines.lib.settings import temporary_env
from tests.support import demo_raw
from tests.support.dbt import Warehouse, copy_project, run_dbt


@pytest.fixture(scope="module")
def clone(dbt_demo, make_database, tmp_path_factory) -> Warehouse:
    """A second warehouse with the same raw data and its own full `dbt build` of the real project."""
    url = make_database("payroll_dbt_clone")
    demo_raw.clone_raw_tables(dbt_demo.url, url)
    project = copy_project(tmp_path_factory.mktemp("dbt-clone"))
    result = run_dbt(project, url, "build")
    assert result.returncode == 0, result.stdout[-3000:]
    return Warehouse(url=url, truth=dbt_demo.truth, env=dbt_demo.env)


def _rows_outside(warehouse: Warehouse, mart: str, company_id: int) -> list[str]:
    return sorted(
        r[0]
        for r in warehouse.query(
            f"select t::text from marts.{mart} as t where company_id <> %s",  # noqa: S608 (a constant mart name)
            (company_id,),
        )
    )


def test_company_year_vars_rebuild_only_that_slice(clone, tmp_path):
    year = min(d.year for d in clone.truth.erp_differences)
    untouched = {m: _rows_outside(clone, m, 101) for m in ("fct_payroll_lines", "payroll_gl_reconciliation")}
    clone.execute(
        "update nmbrs.wage_components set value = value + 100 where company_id = 101 and year = %s "
        "and period = 2 and code = '1000' and employee_id = (select min(employee_id) from nmbrs.wage_components "
        "where company_id = 101 and year = %s and period = 2)",
        (year, year),
    )
    # A change outside the slice must not be picked up by the slice build.
    clone.execute("update nmbrs.wage_components set value = value + 1 where company_id = 103")
    project = copy_project(tmp_path)
    result = run_dbt(project, clone.url, "build", "--vars", json.dumps({"company_id": 101, "year": year}))
    assert result.returncode == 0, result.stdout[-3000:]
    assert "incremental model marts.fct_payroll_lines" in result.stdout

    february = clone.query(
        "select status, difference from marts.payroll_gl_reconciliation "
        "where company_id = 101 and year = %s and month = 2 and gl_account = '4000'",
        (year,),
    )
    assert february == [("difference", Decimal("100.00"))]
    assert {m: _rows_outside(clone, m, 101) for m in untouched} == untouched


def test_the_slice_in_environment_variables_keeps_the_partial_parse_of_the_full_build(clone, tmp_path):
    """What the Dagster dbt step passes (dbt_slice.slice_env): dbt re-parses only the sliced models, not
    the whole project as after a change of --vars, and the next full build rebuilds tables again."""
    year = min(d.year for d in clone.truth.erp_differences)
    project = copy_project(tmp_path)
    full = run_dbt(project, clone.url, "build")  # leaves the parse state in the project's target
    assert full.returncode == 0, full.stdout[-3000:]
    untouched = _rows_outside(clone, "fct_payroll_lines", 102)
    clone.execute("update nmbrs.wage_components set value = value + 1 where company_id = 103")

    with temporary_env(dbt_slice.slice_env(102, year)):
        sliced = run_dbt(project, clone.url, "build")

    assert sliced.returncode == 0, sliced.stdout[-3000:]
    assert "Unable to do partial parsing" not in sliced.stdout
    assert "incremental model marts.fct_payroll_lines" in sliced.stdout
    assert _rows_outside(clone, "fct_payroll_lines", 102) == untouched  # 103's change is outside the slice
    again = run_dbt(project, clone.url, "build")
    assert again.returncode == 0, again.stdout[-3000:]
    assert "Unable to do partial parsing" not in again.stdout
    assert "table model marts.fct_payroll_lines" in again.stdout
    assert _rows_outside(clone, "fct_payroll_lines", 102) != untouched  # the full build took 103's change


def test_the_dbt_step_passes_only_its_own_slice_to_dbt(monkeypatch):
    monkeypatch.setenv("PAYROLL_SLICE_COMPANY_ID", "999")  # a stray value in the shell
    monkeypatch.delenv("PAYROLL_SLICE_YEAR", raising=False)
    with dbt_slice.dbt_slice_environment(None):
        assert "PAYROLL_SLICE_COMPANY_ID" not in os.environ and "PAYROLL_SLICE_YEAR" not in os.environ
    with dbt_slice.dbt_slice_environment({"company_id": 101, "year": 2025}):
        assert (os.environ["PAYROLL_SLICE_COMPANY_ID"], os.environ["PAYROLL_SLICE_YEAR"]) == ("101", "2025")
    assert os.environ["PAYROLL_SLICE_COMPANY_ID"] == "999" and "PAYROLL_SLICE_YEAR" not in os.environ


def test_removing_a_mapping_row_fails_completeness_and_stops_the_marts(clone, tmp_path):
    project = copy_project(tmp_path)
    mapping = project.parent / "mappings" / "wage_component_gl_mapping.csv"
    lines = mapping.read_text().splitlines(keepends=True)
    mapping.write_text("".join(line for line in lines if not line.startswith(",4200,")))
    clone.execute("drop table marts.fct_payroll_lines cascade")

    result = run_dbt(project, clone.url, "build")

    assert result.returncode != 0
    assert "FAIL 3 wage_components_are_all_mapped_unmapped_wage_components_" in result.stdout
    unmapped = clone.query(
        "select company_id, wage_component_code, wage_component_description from marts.unmapped_wage_components"
    )
    assert sorted(unmapped) == [(c, "4200", "Sociale verzekeringen werknemer") for c in (101, 102, 103)]
    stored = clone.query(
        "select table_name from information_schema.tables where table_schema = 'dbt_test__audit' "
        "and table_name like 'wage_components_are_all_mapped%%'"
    )
    assert len(stored) == 1
    failures = clone.query(f"select company_id, wage_component_code from dbt_test__audit.{stored[0][0]}")  # noqa: S608
    assert sorted(failures) == [(101, "4200"), (102, "4200"), (103, "4200")]
    for skipped in ("fct_payroll_lines", "payroll_company_costs_monthly", "payroll_gl_reconciliation"):
        assert f"SKIP relation marts.{skipped}" in result.stdout
    assert clone.query("select to_regclass('marts.fct_payroll_lines')") == [(None,)]

    warehouse = WarehouseResource(database_url=clone.url)
    message = assets.describe_unmapped(assets.unmapped_components(warehouse))
    check = assets._with_unmapped_listed(
        dg.AssetCheckResult(
            passed=False,
            asset_key=dg.AssetKey("unmapped_wage_components"),
            check_name="wage_components_are_all_mapped_unmapped_wage_components_",
            metadata={"rows": 3},
        ),
        warehouse,
    )
    assert message.startswith("3 wage component(s) have no GL mapping: company 101 code 4200")
    assert "mappings/wage_component_gl_mapping.csv" in message
    assert check.description == message and not check.passed
    assert check.metadata["unmapped_count"].value == 3
    assert "company 103, code 4200: Sociale verzekeringen werknemer" in check.metadata["unmapped"].value


def test_seed_checks_catch_bad_statement_unknown_account_and_duplicates(clone, tmp_path):
    project = copy_project(tmp_path)
    mapping = project.parent / "mappings" / "wage_component_gl_mapping.csv"
    mapping.write_text(
        mapping.read_text()
        .replace(",1000,Salaris,PL,4000,false,1", ",1000,Salaris,P&L,4000,false,1")
        .replace(",9000,Nettoloon,BS,1600,false,-1", ",9000,Nettoloon,BS,1699,false,-1")
        .replace(",4000,Loonheffing,BS,1500,false,-1", ",4000,Loonheffing,PL,1500,false,-1")
        + ",4200,Sociale verzekeringen werknemer,BS,1500,false,-1\n"
    )

    result = run_dbt(project, clone.url, "build", "--select", "wage_component_gl_mapping")

    assert result.returncode != 0
    failed = set(re.findall(r" FAIL \d+ (\S+) ", result.stdout))
    assert failed == {
        "accepted_values_wage_component_gl_mapping_statement__PL__BS",
        "relationships_wage_component_gl_mapping_gl_account__gl_account__ref_stg_erp__chart_of_accounts_",
        "mapping_statement_matches_chart_wage_component_gl_mapping_",
        "mapping_keys_unique_wage_component_gl_mapping_",
    }


def test_erp_sources_can_point_at_another_loaders_tables(tmp_path):
    project = copy_project(tmp_path)
    erp_vars = {
        "erp_schema": "finance_raw",
        "erp_chart_of_accounts_table": "coa",
        "erp_gl_movements_table": "gl",
    }
    result = run_dbt(
        project,
        "postgresql://postgres@127.0.0.1:5432/unused",
        "ls",
        "--resource-type",
        "source",
        "--output",
        "json",
        "--output-keys",
        "unique_id relation_name",
        "--vars",
        json.dumps(erp_vars),
    )
    assert result.returncode == 0, result.stdout[-3000:]
    relations = {
        row["unique_id"]: row["relation_name"]
        for row in (json.loads(line) for line in result.stdout.splitlines() if line.startswith("{"))
    }
    assert relations["source.payroll.erp.chart_of_accounts"].endswith('"finance_raw"."coa"')
    assert relations["source.payroll.erp.gl_movements"].endswith('"finance_raw"."gl"')
    assert relations["source.payroll.nmbrs.wage_components"].endswith('"nmbrs"."wage_components"')
