"""The data dictionary of the marts: money typed numeric(18,2), every column described in dbt, the
descriptions persisted as PostgreSQL comments and shown in Dagster's column schema."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from pipelines.defs.dbt.project import prepare_manifest

MONEY_COLUMNS = {
    ("fct_payroll_lines", "amount"),
    ("fct_payroll_lines", "signed_amount"),
    ("fct_payslip_lines", "amount"),
    ("payroll_company_costs_monthly", "amount"),
    ("payroll_balance_sheet_postings_monthly", "amount"),
    ("payroll_data_table", "nmbrs_amount"),
    ("payroll_data_table", "amount"),
    ("payroll_gl_reconciliation", "payroll_amount"),
    ("payroll_gl_reconciliation", "erp_amount"),
    ("payroll_gl_reconciliation", "difference"),
    ("unmapped_wage_components", "total_amount"),
    ("payroll_three_way_reconciliation", "payroll_amount"),
    ("payroll_three_way_reconciliation", "journal_amount"),
    ("payroll_three_way_reconciliation", "erp_amount"),
    ("payroll_three_way_reconciliation", "mapping_difference"),
    ("payroll_three_way_reconciliation", "erp_difference"),
    ("payroll_three_way_reconciliation", "difference"),
    ("payroll_reconciliation_explained", "payroll_amount"),
    ("payroll_reconciliation_explained", "journal_amount"),
    ("payroll_reconciliation_explained", "difference"),
    ("payroll_costs_by_cost_centre_monthly", "amount"),
    ("payroll_costs_by_department_monthly", "amount"),
}
WAREHOUSE_COLUMNS = """
    select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), col_description(c.oid, a.attnum)
    from pg_attribute as a
    join pg_class as c on c.oid = a.attrelid
    join pg_namespace as n on n.oid = c.relnamespace
    where n.nspname = 'marts' and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped
    order by c.relname, a.attnum
"""


@pytest.fixture(scope="module")
def mart_models() -> dict[str, dict]:
    """The dbt models of the marts layer, by name, from the current manifest."""
    manifest = json.loads(prepare_manifest().read_text())
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1] == "marts"
    }


@pytest.fixture(scope="module")
def warehouse_columns(dbt_demo) -> dict[str, list[tuple[str, str, str | None]]]:
    """Per mart table of the synced demo: (column, type, comment) in table order."""
    tables: dict[str, list[tuple[str, str, str | None]]] = {}
    for table, column, column_type, comment in dbt_demo.query(WAREHOUSE_COLUMNS):
        tables.setdefault(table, []).append((column, column_type, comment))
    return tables


def test_every_mart_is_built_as_a_table(mart_models, warehouse_columns):
    assert set(warehouse_columns) == set(mart_models)
    assert {"payroll_data_table", "payroll_balance_sheet_postings_monthly"} <= set(warehouse_columns)


def test_every_money_column_of_every_mart_is_numeric_18_2(dbt_demo, warehouse_columns):
    numeric = {
        (table, column): (precision, scale)
        for table, column, precision, scale in dbt_demo.query(
            "select table_name, column_name, numeric_precision, numeric_scale from information_schema.columns "
            "where table_schema = 'marts' and data_type = 'numeric'"
        )
    }
    assert set(numeric) == MONEY_COLUMNS  # no other numeric column: counts are integers, not numeric
    assert set(numeric.values()) == {(18, 2)}
    assert {table for table, _ in numeric} <= set(warehouse_columns)


def test_every_mart_column_is_typed_and_described_in_dbt(mart_models, warehouse_columns):
    for table, columns in warehouse_columns.items():
        documented = mart_models[table]["columns"]
        assert list(documented) == [column for column, _, _ in columns], table
        for column, column_type, _ in columns:
            assert documented[column]["data_type"] == column_type, (table, column)
            assert documented[column]["description"].strip(), (table, column)


def test_every_mart_column_has_its_description_as_a_postgresql_comment(
    dbt_demo, mart_models, warehouse_columns
):
    for table, columns in warehouse_columns.items():
        for column, _, comment in columns:
            assert comment == mart_models[table]["columns"][column]["description"], (table, column)
    tables = dict(
        dbt_demo.query(
            "select c.relname, obj_description(c.oid, 'pg_class') from pg_class as c "
            "join pg_namespace as n on n.oid = c.relnamespace where n.nspname = 'marts' and c.relkind = 'r'"
        )
    )
    assert all(tables[name] and tables[name] == model["description"] for name, model in mart_models.items())


def test_the_dagster_column_schema_of_the_reconciliation_lists_every_column(warehouse_columns):
    from pipelines.definitions import defs

    spec = defs().resolve_asset_graph().get(dg.AssetKey("payroll_gl_reconciliation"))
    schema = spec.metadata["dagster/column_schema"]
    assert [(c.name, c.type) for c in schema.columns] == [
        (column, column_type) for column, column_type, _ in warehouse_columns["payroll_gl_reconciliation"]
    ]
    assert "month_start" in [c.name for c in schema.columns]
    described = {c.name: c.description for c in schema.columns}
    for column, _, comment in warehouse_columns["payroll_gl_reconciliation"]:
        assert described[column] and described[column] == comment, column
