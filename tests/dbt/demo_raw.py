"""Raw tables for the dbt tests: cloned from a synced warehouse, or (until the extraction's
`synced_demo` fixture exists) written from the sandbox world exactly as docs/design.md defines them."""

from __future__ import annotations

import io

from psycopg2 import sql

from pipelines.lib import warehouse
from pipelines.sandbox.world import World

RAW_TABLES_READ_BY_DBT = (
    "nmbrs.companies",
    "nmbrs.employees",
    "nmbrs.payroll_runs",
    "nmbrs.wage_components",
    "nmbrs.payslips",
    "nmbrs.source_coverage",
    "erp.chart_of_accounts",
    "erp.gl_movements",
)


def clone_raw_tables(source_url: str, target_url: str) -> None:
    """Copy the raw tables dbt reads from one warehouse into another (COPY out, COPY in)."""
    source = warehouse.connect(source_url)
    target = warehouse.connect(target_url)
    try:
        warehouse.ensure_raw_schema(target)
        target.commit()
        for table in RAW_TABLES_READ_BY_DBT:
            buffer = io.StringIO()
            name = warehouse.table_sql(table)
            with source.cursor() as cur:
                cur.copy_expert(sql.SQL("copy {} to stdout").format(name).as_string(source), buffer)
            buffer.seek(0)
            with target.cursor() as cur:
                cur.execute(sql.SQL("delete from {}").format(name))
                cur.copy_expert(sql.SQL("copy {} from stdin").format(name).as_string(target), buffer)
        target.commit()
    finally:
        source.close()
        target.close()


def load_world(url: str, world: World, run_id: str = "tests-dbt") -> None:
    """Write the world's companies, employees, runs, period reports and payslips into nmbrs.*."""
    conn = warehouse.connect(url)
    try:
        warehouse.ensure_raw_schema(conn)
        conn.commit()
        companies = world.companies()
        load = _loader(conn, run_id)
        load("nmbrs.companies", ("company_id", "company_number", "name", "period_type", "kvk_number"),
             [(c.id, str(c.number), c.name, c.period_type, c.kvk_number) for c in companies])
        load("nmbrs.employees",
             ("company_id", "employee_id", "employee_number", "display_name", "first_name", "initials", "prefix",
              "last_name", "start_period", "start_year"),
             [(c.id, e.id, str(e.number), e.display_name, e.first_name, e.initials, e.prefix, e.last_name,
               e.start_period, e.start_year) for c in companies for e in world.employees(c.id)])
        runs = [run for c in companies for year in world.years(c.id) for run in world.runs(c.id, year)]
        load("nmbrs.payroll_runs",
             ("company_id", "year", "run_id", "run_number", "period_start", "period_end", "description",
              "run_at", "is_locked", "run_type"),
             [(r.company_id, r.year, str(r.id), r.number, r.period_start, r.period_end, r.description, r.run_at,
               r.locked, r.type) for r in runs])
        load("nmbrs.wage_components",
             ("company_id", "year", "period", "employee_id", "code", "description", "value", "source"),
             [(row.company_id, row.year, row.period, row.employee_id, line.code, line.description, line.value,
               "soap_period_report")
              for c in companies for year in world.years(c.id) for row in world.period_report(c.id, year)
              for line in row.lines])
        load("nmbrs.payslips",
             ("company_id", "year", "run_id", "run_number", "period", "employee_id", "code", "description",
              "value"),
             [(r.company_id, r.year, str(r.id), r.number, row.period, row.employee_id, line.code,
               line.description, line.value) for r in runs for row in world.payslips(r) for line in row.lines])
        load("nmbrs.source_coverage", ("company_id", "year", "source_mode", "wage_component_source", "coverage"),
             [(c.id, year, "soap", "soap_period_report", "complete") for c in companies for year in world.years(c.id)])
    finally:
        conn.close()


def _loader(conn, run_id: str):
    def load(table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        warehouse.replace_partition(conn, table, {}, columns, rows, source="soap", run_id=run_id)

    return load
