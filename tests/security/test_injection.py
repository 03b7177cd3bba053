"""Scenario 13: hostile text loads as data; identifiers from configuration are quoted or refused.

Data: the demo's company 103 `Studio O'Brien; Design` is renamed in the sandbox to a string with
quotes, a semicolon, a DROP TABLE, COPY's own escapes (`\\N`, a tab) and dollar quotes, and one of
its employees gets a hostile last name. Both must arrive byte for byte, in the raw tables and the
marts, and nothing may be dropped. Identifiers: the dbt vars that name the ERP source tables and
the BI role. The loader's own identifiers (table, partition and column names) are validated in
tests/lib/test_warehouse.py::test_identifiers_are_validated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.pipeline import record_figure
from tests.support.security import HOSTILE_COMPANY, HOSTILE_LAST_NAME

pytestmark = pytest.mark.security

DBT_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
DBT = str(Path(sys.executable).with_name("dbt"))


def test_hostile_company_and_employee_names_load_as_data(secured):
    pipeline = secured.pipeline
    company = secured.hostile_company_id
    assert pipeline.query("select name from nmbrs.companies where company_id = %s", (company,)) == [
        (HOSTILE_COMPANY,)
    ]
    assert pipeline.query(
        "select company_name from marts.dim_companies where company_id = %s", (company,)
    ) == [(HOSTILE_COMPANY,)]
    company_id, employee_id = secured.hostile_employee
    assert pipeline.query(
        "select last_name from nmbrs.employees where company_id = %s and employee_id = %s",
        (company_id, employee_id),
    ) == [(HOSTILE_LAST_NAME,)]
    counts = dict(
        pipeline.query(
            "select 'companies', count(*) from nmbrs.companies union all "
            "select 'employees', count(*) from nmbrs.employees"
        )
    )
    world = secured.sandbox.state.world
    assert counts == {
        "companies": len(world.companies()),
        "employees": sum(len(world.employees(c.id)) for c in world.companies()),
    }
    record_figure("13_sql_injection_data", hostile_values=2, rows_checked=sum(counts.values()))


def _dbt(secured, tmp_path, args: list[str], variables: dict[str, str]) -> subprocess.CompletedProcess:
    with secured.pipeline.active():
        env = dict(os.environ)
    return subprocess.run(
        [
            DBT,
            *args,
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
            "--vars",
            json.dumps(variables),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


HOSTILE_IDENTIFIERS = [
    ("erp_gl_movements_table", 'gl_movements"; drop table erp.chart_of_accounts; --'),
    ("erp_schema", "erp; drop schema marts cascade"),
    ("bi_role", "payroll_bi'; drop schema marts cascade; --"),
    ("bi_role", 'bi" nologin; drop schema marts; --'),
]


@pytest.mark.parametrize("name, value", HOSTILE_IDENTIFIERS)
def test_an_identifier_var_that_is_not_a_plain_identifier_is_refused_before_any_sql(
    secured, tmp_path, name, value
):
    pipeline = secured.pipeline
    objects = (
        "select count(*) from information_schema.tables where table_schema in ('marts', 'erp', 'staging')"
    )
    before = pipeline.query(objects)
    result = _dbt(secured, tmp_path, ["run", "--select", "stg_erp__gl_movements"], {name: value})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"var {name} must be a plain identifier" in output and "Fix:" in output, output[-2000:]
    assert pipeline.query(objects) == before
    assert pipeline.query("select count(*) from pg_roles where rolname ~ %s", ("[;'\"]",)) == [(0,)]
    record_figure("13_identifier_vars", refused=len(HOSTILE_IDENTIFIERS))
