"""Clone the raw tables dbt reads into another warehouse, for tests that must change data or mappings
without touching the shared synced demo."""

from __future__ import annotations

import io

from psycopg2 import sql

from pipelines.lib import warehouse

RAW_TABLES_READ_BY_DBT = (
    "nmbrs.companies",
    "nmbrs.employees",
    "nmbrs.employee_assignments",
    "nmbrs.payroll_runs",
    "nmbrs.wage_components",
    "nmbrs.payslips",
    "nmbrs.source_coverage",
    "nmbrs.journals",
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
