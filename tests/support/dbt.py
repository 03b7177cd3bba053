"""The dbt suite's helpers: the synced demo warehouse with the sandbox's expected figures, the ERP and
dbt assets materialized in process, and dbt run as a user runs it on a copy of the project."""

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

from pipelines.lib import settings, warehouse
from pipelines.sandbox.truth import ErpDifference, Truth, TruthLine
from tests.support.definitions import resources

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
    "payroll_three_way_reconciliation",
    "payroll_reconciliation_explained",
    "payroll_costs_by_cost_centre_monthly",
    "payroll_costs_by_department_monthly",
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
    from pipelines.defs.dbt.assets import payroll_dbt
    from pipelines.defs.erp.assets import chart_of_accounts, gl_movements

    return dg.materialize([chart_of_accounts, gl_movements, payroll_dbt], resources=resources())


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
    env = {**os.environ, **settings.dbt_profile_env(database_url), **settings.TELEMETRY_OFF}
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
