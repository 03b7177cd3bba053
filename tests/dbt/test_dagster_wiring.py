"""The dbt project as Dagster assets: one graph from the raw assets to the marts, checks, slice vars."""

from __future__ import annotations

import dagster as dg
import pytest

from pipelines.defs import keys
from pipelines.defs.dbt import assets
from pipelines.defs.dbt.project import manifest_is_current, prepare_manifest
from pipelines.lib import settings
from tests.support.definitions import resources


@pytest.fixture(scope="module")
def asset_graph():
    from pipelines.definitions import defs

    return defs().resolve_asset_graph()


def test_dbt_sources_are_the_raw_assets_and_models_are_grouped_by_layer(asset_graph):
    dbt_def = assets.payroll_dbt
    upstream = {k.to_user_string() for k in dbt_def.dependency_keys} - {
        k.to_user_string() for k in dbt_def.keys
    }
    assert upstream == {
        "nmbrs/companies",
        "nmbrs/employees",
        "nmbrs/employee_assignments",
        "nmbrs/payroll_runs",
        "nmbrs/wage_components",
        "nmbrs/payslips",
        "nmbrs/source_coverage",
        "nmbrs/journals",
        "erp/chart_of_accounts",
        "erp/gl_movements",
    }
    for key in upstream:  # every source is a real, materializable asset of the code location
        assert asset_graph.get(dg.AssetKey.from_user_string(key)).is_materializable, key
    groups = {k.to_user_string(): g for k, g in dbt_def.group_names_by_key.items()}
    assert groups["wage_component_gl_mapping"] == groups["company_entity_mapping"] == "mappings"
    assert groups["stg_nmbrs__wage_components"] == "staging"
    assert groups["int_payroll_periods"] == "intermediate"
    assert {
        groups[m] for m in ("fct_payroll_lines", "payroll_gl_reconciliation", "unmapped_wage_components")
    } == {"marts"}
    fct_parents = asset_graph.get(dg.AssetKey("fct_payroll_lines")).parent_keys
    assert dg.AssetKey("unmapped_wage_components") in fct_parents


def test_mapping_completeness_is_a_blocking_check_and_payslip_agreement_a_warning():
    checks = {spec.name: spec for spec in assets.payroll_dbt.check_specs}
    completeness = checks["wage_components_are_all_mapped_unmapped_wage_components_"]
    assert completeness.blocking and completeness.asset_key == dg.AssetKey("unmapped_wage_components")
    assert not checks["payslips_match_period_report_fct_payslip_lines_"].blocking
    assert checks["mapping_statement_matches_chart_wage_component_gl_mapping_"].blocking


def test_every_asset_check_has_a_description(asset_graph):
    """dbt tests (described in their YAML), the custom checks and the freshness checks."""
    keys = asset_graph.asset_check_keys
    assert len(keys) > len(assets.payroll_dbt.check_specs) > 40
    undescribed = [key.to_user_string() for key in keys if not asset_graph.get_check_spec(key).description]
    assert undescribed == []
    checks = {spec.name: spec for spec in assets.payroll_dbt.check_specs}
    assert (
        checks["accepted_values_payroll_company_costs_monthly_statement__PL"].description
        == "Company costs hold P&L accounts only (balance-sheet postings have their own mart)."
    )


def test_slice_vars_come_from_partition_tags():
    assert assets.slice_vars({}) is None
    tags = {keys.COMPANY_TAG: "101", keys.YEAR_TAG: "2025", "dagster/partition": "101|2025"}
    assert assets.slice_vars(tags) == {"company_id": 101, "year": 2025}
    with pytest.raises(dg.Failure, match="must both be whole numbers"):
        assets.slice_vars({keys.COMPANY_TAG: "101"})


def test_manifest_is_prepared_without_dagster_dev():
    manifest = prepare_manifest()
    assert manifest_is_current(manifest, settings.DBT_PROJECT_DIR, settings.MAPPINGS_DIR)


def test_a_partitioned_run_builds_only_its_company_year(dbt_demo, capfd):
    before = dbt_demo.marts_hash()
    year = min(d.year for d in dbt_demo.truth.erp_differences)
    result = dg.materialize(
        [assets.payroll_dbt],
        resources=resources(),
        tags={keys.COMPANY_TAG: "101", keys.YEAR_TAG: str(year)},
    )
    assert result.success
    dbt_output = capfd.readouterr().out
    assert "6 incremental models" in dbt_output  # the slice: delete + insert, not a full rebuild
    assert "incremental model marts.fct_payroll_lines" in dbt_output
    assert dbt_demo.marts_hash() == before
