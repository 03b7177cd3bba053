"""The dbt tests read the shared synced demo (one extraction + dbt build per session, ~20 s of dbt)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from pipelines.lib import settings, warehouse
from pipelines.sandbox.truth import ErpDifference, Truth, TruthLine

MARTS = (
    "fct_payroll_lines",
    "payroll_company_costs_monthly",
    "payroll_gl_reconciliation",
    "unmapped_wage_components",
    "fct_payslip_lines",
    "payroll_balance_sheet_postings_monthly",
    "payroll_data_table",
    "dim_companies",
    "dim_employees",
    "dim_wage_components",
)
DBT = str(Path(sys.executable).with_name("dbt"))


@dataclass
class Warehouse:
    url: str
    truth: TruthSnapshot
    env: dict[str, str]

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        return warehouse.fetch_all(self.url, statement, params)

    def execute(self, statement: str, params: tuple = ()) -> None:
        conn = psycopg2.connect(self.url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(statement, params)
        finally:
            conn.close()

    def marts_hash(self) -> dict[str, str]:
        """Content hash of every mart, independent of physical row order."""
        result = {}
        for mart in MARTS:
            rows = self.query(f"select t::text from marts.{mart} as t")  # noqa: S608 - fixed names
            result[mart] = hashlib.sha256("\n".join(sorted(r[0] for r in rows)).encode()).hexdigest()
        return result


def materialize_erp_and_dbt() -> dg.ExecuteInProcessResult:
    """The ERP import and `dbt build` through their Dagster assets, in process."""
    from pipelines.defs.dbt.assets import defs as dbt_defs
    from pipelines.defs.dbt.assets import payroll_dbt
    from pipelines.defs.erp.assets import chart_of_accounts, gl_movements

    return dg.materialize([chart_of_accounts, gl_movements, payroll_dbt], resources=dbt_defs.resources)


@dataclass(frozen=True)
class TruthSnapshot:
    """The sandbox's expected figures, taken right after the sync (the session's sandbox can grow later)."""

    gl: dict[tuple[int, int, int, str], Decimal]
    erp_differences: list[ErpDifference]
    wage_component_lines: list[TruthLine]
    employees: int

    @classmethod
    def of(cls, truth: Truth) -> TruthSnapshot:
        return cls(
            gl=truth.gl(),
            erp_differences=truth.erp_differences,
            wage_component_lines=list(truth.lines("wage_components")),
            employees=truth.rows("employees"),
        )


@pytest.fixture(scope="session")
def dbt_demo(synced_demo, demo_env, sandbox) -> Warehouse:
    """The synced demo warehouse (extraction, ERP import and `dbt build` by run_sync)."""
    return Warehouse(
        url=demo_env["PAYROLL_DATABASE_URL"], truth=TruthSnapshot.of(sandbox.state.truth), env=demo_env
    )


def copy_project(tmp_path: Path) -> Path:
    """A copy of dbt_project/ and mappings/ (same relative layout), for tests that edit them."""
    shutil.copytree(
        settings.DBT_PROJECT_DIR,
        tmp_path / "dbt_project",
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
    )
    shutil.copytree(settings.MAPPINGS_DIR, tmp_path / "mappings")
    return tmp_path / "dbt_project"


def run_dbt(project_dir: Path, database_url: str, *args: str) -> subprocess.CompletedProcess:
    """`dbt <args>` as a user runs it, against the given database."""
    dsn = settings.dsn_parts(database_url)
    env = {
        **os.environ,
        "PAYROLL_DB_HOST": dsn.host,
        "PAYROLL_DB_PORT": str(dsn.port),
        "PAYROLL_DB_USER": dsn.user,
        "PAYROLL_DB_PASSWORD": dsn.password,
        "PAYROLL_DB_NAME": dsn.dbname,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    return subprocess.run(
        [
            DBT,
            *args,
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(project_dir),
            "--target-path",
            str(project_dir / "target-test"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
