"""An upgrade end to end (docs/upgrading.md): a SOAP sync of a generated world whose company numbers
(1, 2) and employee numbers differ from the SOAP ids (101, 102; 101001, ...), turned back into the
warehouse the SOAP-id version left (keys = SOAP ids, no API id columns, partitions 101 and 102).
The sync refuses it; `payroll db rekey` gives back exactly the rows this version loads; the next
sync builds the same marts to the cent, each company once."""

from __future__ import annotations

import csv
import subprocess

import dagster as dg
import pytest
from psycopg2 import sql

from pipelines.defs.nmbrs import partitions
from pipelines.lib import rekey, settings, warehouse
from tests.support.pipeline import PAYROLL

SCENARIO = {
    "scenario": "scale",
    "companies": 2,
    "employees_per_company": 4,
    "years": 1,
    "as_of": "2026-07-15",
}
SKIPPED = {"_loaded_at", "_dagster_run_id"}


def _raw_rows(pipeline) -> dict[str, list[tuple]]:
    """Every raw Nmbrs row, columns by name (so a column added later compares equal), sorted."""
    out = {}
    for table in rekey.keyed_tables("company_id"):
        schema, name = warehouse.split_table(table)
        columns = sorted(
            column
            for (column,) in pipeline.query(
                "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
                (schema, name),
            )
            if column not in SKIPPED
        )
        rows = pipeline.query(
            sql.SQL("select {} from {}").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(schema, name)
            )
        )
        out[table] = sorted(rows, key=repr)
    return out


def _back_to_soap_ids(pipeline) -> None:
    """What the previous version left: employee and company keys = SOAP ids, no API id columns."""
    employee_tables = rekey.keyed_tables("employee_id")
    for table in employee_tables:
        if table != "nmbrs.employees":
            pipeline.execute(
                sql.SQL(
                    "update {} t set employee_id = e.soap_employee_id from nmbrs.employees e "
                    "where e.company_id = t.company_id and e.employee_id = t.employee_id"
                ).format(warehouse.table_sql(table))
            )
    pipeline.execute("update nmbrs.employees set employee_id = soap_employee_id")
    for table in rekey.keyed_tables("company_id"):
        if table != "nmbrs.companies":
            pipeline.execute(
                sql.SQL(
                    "update {} t set company_id = c.soap_company_id from nmbrs.companies c where c.company_id = t.company_id"
                ).format(warehouse.table_sql(table))
            )
    pipeline.execute("update nmbrs.companies set company_id = soap_company_id")
    for table, columns in warehouse.ADDED_COLUMNS.items():
        for column, _ in columns:  # cascade: the staging views that expose them (dbt makes them again)
            pipeline.execute(
                sql.SQL("alter table {} drop column {} cascade").format(
                    warehouse.table_sql(table), sql.Identifier(column)
                )
            )
    for (table,) in pipeline.query(  # the marts the previous version built: keyed on SOAP ids too
        "select c.table_name from information_schema.columns c join information_schema.tables t "
        "using (table_schema, table_name) where c.table_schema = 'marts' and c.column_name = 'company_id' "
        "and t.table_type = 'BASE TABLE'"
    ):
        pipeline.execute(
            sql.SQL("update {} set company_id = company_id + 100").format(sql.Identifier("marts", table))
        )
    with pipeline.active(), dg.DagsterInstance.get() as instance:
        partitions.retire_companies(instance, ["1", "2"])
        partitions.register_companies(instance, ["101", "102"])


def _company_partitions(pipeline) -> list[str]:
    with pipeline.active(), dg.DagsterInstance.get() as instance:
        return sorted(instance.get_dynamic_partitions(partitions.COMPANIES))


def _stale_mapping_lines() -> list[str]:
    """The lines of the repository's mappings that name 101 or 102 (this world's SOAP ids)."""
    lines = []
    for path in sorted(settings.MAPPINGS_DIR.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                if (row.get("company_id") or "").strip() in {"101", "102"}:
                    old = int(row["company_id"])
                    lines.append(
                        f"mappings/{path.name} line {reader.line_num}: company_id {old} -> write {old - 100}"
                    )
    return lines


def test_an_upgraded_warehouse_is_rekeyed_to_what_this_version_loads(make_pipeline):
    pipeline = make_pipeline("soap", **SCENARIO)
    first = pipeline.sync(include_dbt=True)
    assert first.success, [f"{s.name}: {s.error}" for s in first.failures]
    raw = _raw_rows(pipeline)
    marts = pipeline.hashes(("marts",))
    assert pipeline.query("select company_id, soap_company_id from nmbrs.companies order by 1") == [
        (1, 101),
        (2, 102),
    ]

    _back_to_soap_ids(pipeline)
    old = _raw_rows(pipeline)
    assert old["nmbrs.companies"] != raw["nmbrs.companies"]
    assert pipeline.hashes(("marts",)) != marts
    with pytest.raises(warehouse.OldKeyWarehouse, match="run `payroll db rekey`"):
        pipeline.sync(include_dbt=True)  # before any step: nothing loaded
    assert _raw_rows(pipeline) == old

    done = subprocess.run(
        [PAYROLL, "db", "rekey"], env=pipeline.subprocess_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "101 -> 1" in done.stdout and "102 -> 2" in done.stdout
    assert "Dagster company partitions: added 1, 2; deleted the SOAP-id keys 101, 102" in done.stdout
    for line in _stale_mapping_lines():
        assert line in done.stdout
    assert _raw_rows(pipeline) == raw  # every row, key and API id as this version loads them
    assert _company_partitions(pipeline) == ["1", "2"]

    second = pipeline.sync(include_dbt=True)
    assert second.success, [f"{s.name}: {s.error}" for s in second.failures]
    assert (
        pipeline.hashes(("marts",)) == marts
    )  # rebuilt in full, to the cent: each company once, on its number
    assert _raw_rows(pipeline) == raw
