"""One shared dbt build on the sandbox demo for the dbt tests (a build takes ~20 s on 2 cores)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from pipelines.lib import settings
from pipelines.sandbox.scenarios import build_config
from pipelines.sandbox.truth import Truth
from pipelines.sandbox.world import World
from tests.conftest import make_env, temporary_env
from tests.dbt import demo_raw

MARTS = (
    "fct_payroll_lines",
    "payroll_company_costs_monthly",
    "payroll_gl_reconciliation",
    "unmapped_wage_components",
    "fct_payslip_lines",
    "dim_companies",
    "dim_employees",
    "dim_wage_components",
)
DBT = str(Path(sys.executable).with_name("dbt"))


@dataclass
class Warehouse:
    url: str
    truth: Truth
    env: dict[str, str]

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        conn = psycopg2.connect(self.url)
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall()
        finally:
            conn.close()

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


@pytest.fixture(scope="session")
def dbt_demo(make_database, tmp_path_factory) -> Iterator[Warehouse]:
    """A warehouse holding the demo's raw data, the ERP import and one `dbt build`."""
    home = tmp_path_factory.mktemp("dbt-home")
    url = make_database("payroll_dbt")
    env = make_env(url, home, {})
    env["PAYROLL_ERP_DIR"] = None
    with temporary_env(env):
        resolved = settings.prepare_environment(start_embedded=False)
        world = World(build_config("demo", 42))
        demo_raw.load_world(url, world)
        result = materialize_erp_and_dbt()
        assert result.success
        yield Warehouse(url=url, truth=Truth(world), env={**{k: v for k, v in env.items() if v}, **resolved})


def copy_project(tmp_path: Path) -> Path:
    """A copy of dbt_project/ and mappings/ (same relative layout), for tests that edit them."""
    shutil.copytree(settings.DBT_PROJECT_DIR, tmp_path / "dbt_project",
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
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
        [DBT, *args, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
         "--target-path", str(project_dir / "target-test")],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )
