"""Isolated pipelines for the extraction tests: one sandbox, warehouse and Dagster home each."""

from __future__ import annotations

from decimal import Decimal

import pytest
from psycopg2 import sql

from tests.conftest import make_env
from tests.reliability import support

# Columns that identify one row of each raw table (load columns excluded).
TABLE_KEYS = {
    "nmbrs.companies": ("company_id",),
    "nmbrs.employees": ("company_id", "employee_id"),
    "nmbrs.payroll_runs": ("company_id", "year", "run_number"),
    "nmbrs.wage_components": ("company_id", "year", "period", "employee_id", "code", "source"),
    "nmbrs.payslips": ("company_id", "year", "run_number", "period", "employee_id", "code"),
    "nmbrs.source_coverage": ("company_id", "year"),
}
LOAD_COLUMNS = ("_loaded_at", "_dagster_run_id", "_source")


class Pipeline(support.Pipeline):
    """The reliability suite's isolated pipeline, syncing without dbt unless asked, plus per-table figures."""

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


@pytest.fixture(scope="session")
def make_pipeline(make_database, tmp_path_factory):
    """Start a sandbox (scenario + knobs) with a fresh warehouse for one source mode."""
    from pipelines.sandbox.server import SandboxServer

    servers = []

    def _make(mode: str, scenario: str = "demo", sandbox=None, **knobs) -> Pipeline:
        """With `sandbox`, a fresh warehouse for an existing sandbox (e.g. a reference run)."""
        server = sandbox or SandboxServer.start(scenario=scenario, seed=42, host="127.0.0.1", port=0, **knobs)
        if sandbox is None:
            servers.append(server)
        url = make_database("payroll_extract")
        home = tmp_path_factory.mktemp(f"payroll-{mode.replace('+', '-')}")
        env = make_env(url, home, {**server.env_vars(), "NMBRS_SOURCE_MODE": mode})
        return Pipeline(server, env, url)

    yield _make
    for server in servers:
        server.stop()


def expected_partitions(truth, table: str, companies, years) -> dict[tuple[int, int], tuple[int, Decimal]]:
    expected = {}
    for cid in companies:
        for year in years:
            rows = truth.rows(table, company_id=cid, year=year)
            if rows:
                expected[(cid, year)] = (rows, truth.total(table, company_id=cid, year=year))
    return expected
