"""The extraction suite's pipeline: the isolated pipeline, syncing without dbt unless asked, plus
per-table figures (content hash, duplicate keys, rows and totals per company-year)."""

from __future__ import annotations

from decimal import Decimal

from psycopg2 import sql

from tests.support import pipeline

# Columns that identify one row of each raw table (load columns excluded).
TABLE_KEYS = {
    "nmbrs.companies": ("company_id",),
    "nmbrs.employees": ("company_id", "employee_id"),
    "nmbrs.employee_assignments": (
        "company_id",
        "employee_id",
        "kind",
        "valid_from_year",
        "valid_from_period",
        "code",
    ),
    "nmbrs.payroll_runs": ("company_id", "year", "run_number"),
    "nmbrs.wage_components": ("company_id", "year", "period", "employee_id", "code", "source"),
    "nmbrs.payslips": ("company_id", "year", "run_number", "period", "employee_id", "code"),
    "nmbrs.source_coverage": ("company_id", "year"),
}
LOAD_COLUMNS = ("_loaded_at", "_dagster_run_id", "_source")


class ExtractPipeline(pipeline.Pipeline):
    """The isolated pipeline of tests.support.pipeline, syncing without dbt unless asked."""

    def sync(self, **kwargs):
        return super().sync(**{"include_dbt": False, **kwargs})

    def content_hash(self, table: str) -> str:
        """md5 over every row of the table, load columns excluded, in a stable order."""
        columns = [
            name
            for (name,) in self.query(
                "select column_name from information_schema.columns where table_schema || '.' || table_name = %s "
                "order by ordinal_position",
                (table,),
            )
            if name not in LOAD_COLUMNS
        ]
        statement = sql.SQL(
            "select md5(coalesce(string_agg(r, E'\\n' order by r), '')) from (select ({})::text as r from {}) t"
        ).format(sql.SQL(", ").join(map(sql.Identifier, columns)), _table(table))
        return self.query(statement)[0][0]

    def duplicates(self, table: str) -> int:
        statement = sql.SQL("select count(*) - count(distinct ({})) from {}").format(
            sql.SQL(", ").join(map(sql.Identifier, TABLE_KEYS[table])), _table(table)
        )
        return self.query(statement)[0][0]

    def partition_figures(self, table: str) -> dict[tuple[int, int], tuple[int, Decimal]]:
        rows = self.query(
            sql.SQL(
                "select company_id, year, count(*), coalesce(sum(value), 0) from {} group by 1, 2"
            ).format(_table(table))
        )
        return {(cid, year): (count, total) for cid, year, count, total in rows}


def _table(name: str) -> sql.Identifier:
    return sql.Identifier(*name.split("."))


def expected_partitions(truth, table: str, companies, years) -> dict[tuple[int, int], tuple[int, Decimal]]:
    expected = {}
    for cid in companies:
        for year in years:
            rows = truth.rows(table, company_id=cid, year=year)
            if rows:
                expected[(cid, year)] = (rows, truth.total(table, company_id=cid, year=year))
    return expected
