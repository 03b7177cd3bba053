"""Upgrading a warehouse keyed on SOAP ids: loads refuse it, `payroll db rekey` re-keys it in place
(docs/upgrading.md). Real PostgreSQL, the real `payroll` command, the real Dagster instance storage.

The world: company numbers differ from the SOAP ids, and one company's number is the other's SOAP
id (302), so the re-key swaps keys and must keep every row; employee numbers differ from SOAP
employee ids and repeat across companies (number 1 in both)."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from psycopg2 import sql

from pipelines.defs.nmbrs import partitions
from pipelines.lib import rekey, settings, warehouse
from pipelines.lib.settings import temporary_env

PAYROLL = str(Path(sys.executable).with_name("payroll"))
YEAR = 2025

COMPANIES = {301: ("302", "Bakkerij Noord BV"), 302: ("5", "Studio Zuid BV")}  # SOAP id -> (number, name)
EMPLOYEES = {(301, 301001): "1", (301, 301002): "2", (302, 302001): "1", (302, 302002): "07"}
NEW_COMPANY = {old: int(number) for old, (number, _) in COMPANIES.items()}
NEW_EMPLOYEE = {key: int(number) for key, number in EMPLOYEES.items()}
ADDED = {column for columns in warehouse.ADDED_COLUMNS.values() for column, _ in columns}
TABLES = rekey.keyed_tables("company_id")


def _insert(cur, table: str, api: str = "soap", **values) -> None:
    values = {
        **values,
        "_loaded_at": "2026-01-05T10:00:00+00:00",
        "_dagster_run_id": "run-old",
        "_source": api,
    }
    cur.execute(
        sql.SQL("insert into {} ({}) values ({})").format(
            warehouse.table_sql(table),
            sql.SQL(", ").join(map(sql.Identifier, values)),
            sql.SQL(", ").join(sql.Placeholder() * len(values)),
        ),
        list(values.values()),
    )


def _old_key_warehouse(conn) -> None:
    """The raw tables as the previous version left them: no API id columns, keys = SOAP ids."""
    with conn.cursor() as cur:
        for table, columns in warehouse.ADDED_COLUMNS.items():
            for column, _ in columns:
                cur.execute(
                    sql.SQL("alter table {} drop column {}").format(
                        warehouse.table_sql(table), sql.Identifier(column)
                    )
                )
        for old, (number, name) in COMPANIES.items():
            _insert(
                cur, "nmbrs.companies", company_id=old, company_number=number, name=name, period_type="Month"
            )
            run = {"company_id": old, "year": YEAR}
            _insert(
                cur,
                "nmbrs.payroll_runs",
                **run,
                run_id=f"{old}9001",
                run_number=1,
                period_start=1,
                period_end=1,
            )
            _insert(
                cur, "nmbrs.payroll_runs", "rest", **run, run_id=f"rest-{old}-2", run_number=2, period_start=2
            )
            _insert(
                cur,
                "nmbrs.source_coverage",
                **run,
                source_mode="soap",
                wage_component_source="soap_period_report",
                coverage="complete",
            )
            _insert(
                cur, "nmbrs.schema_drift", asset="nmbrs/company_year", **run, element="Extra", occurrences=1
            )
            _insert(
                cur,
                "nmbrs.journals",
                **run,
                company_number=number,
                run_id=f"{old}9001",
                run_number=1,
                variant="journals",
                journal_year=YEAR,
                journal_period=1,
                gl_account="4000",
                side="debit",
                amount=Decimal("1234.56") + old,
            )
        _insert(cur, "nmbrs.schema_drift", asset="nmbrs/companies", element="Other", occurrences=2)
        for (company, employee), number in EMPLOYEES.items():
            who = {"company_id": company, "employee_id": employee}
            _insert(
                cur,
                "nmbrs.employees",
                **who,
                employee_number=number,
                display_name=f"Medewerker {employee % 1000}",
            )
            _insert(cur, "nmbrs_restricted.employee_personal", **who)
            _insert(
                cur,
                "nmbrs.employee_assignments",
                **who,
                kind="department",
                code="D1",
                valid_from_year=YEAR,
                valid_from_period=1,
            )
            for code, value in (("1000", Decimal("3100.10") + employee % 1000), ("4100", Decimal("-0.01"))):
                line = {**who, "year": YEAR, "period": 1, "code": code, "description": "x", "value": value}
                _insert(cur, "nmbrs.wage_components", **line, source="soap_period_report")
                _insert(cur, "nmbrs.payslips", **line, run_id=f"{company}9001", run_number=1)
    conn.commit()


def _rows(conn, table: str) -> list[dict]:
    """Every row of `table` without the API id columns, in a stable order."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("select * from {}").format(warehouse.table_sql(table)))
        names = [d.name for d in cur.description]
        rows = [{k: v for k, v in zip(names, row, strict=True) if k not in ADDED} for row in cur.fetchall()]
    conn.rollback()
    return sorted(rows, key=repr)


def _rekeyed(row: dict) -> dict:
    """What the previous version's row must look like once re-keyed: only the keys change."""
    row = dict(row)
    old = row.get("company_id")
    if "employee_id" in row:
        row["employee_id"] = NEW_EMPLOYEE[(old, row["employee_id"])]
    if old is not None:
        row["company_id"] = NEW_COMPANY[old]
    return row


def _totals(conn) -> dict[str, tuple[int, Decimal]]:
    out = {}
    with conn.cursor() as cur:
        for table, column in (
            ("nmbrs.wage_components", "value"),
            ("nmbrs.payslips", "value"),
            ("nmbrs.journals", "amount"),
        ):
            cur.execute(
                sql.SQL("select count(*), sum({}) from {}").format(
                    sql.Identifier(column), warehouse.table_sql(table)
                )
            )
            out[table] = cur.fetchone()
    conn.rollback()
    return out


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NMBRS_", "PAYROLL_", "DAGSTER_"))}
    return subprocess.run([PAYROLL, *args], env={**base, **env}, capture_output=True, text=True, timeout=300)


@pytest.fixture
def old_wh(wh):
    _old_key_warehouse(wh)
    return wh


@pytest.fixture
def cli_env(warehouse_url, tmp_path) -> dict[str, str]:
    return {"PAYROLL_DATABASE_URL": warehouse_url, "PAYROLL_HOME": str(tmp_path)}


def _company_partitions(cli_env: dict[str, str]) -> list[str]:
    with temporary_env({**cli_env, "DAGSTER_HOME": None}):
        settings.prepare_environment(start_embedded=False)
        with dg.DagsterInstance.get() as instance:
            return sorted(instance.get_dynamic_partitions(partitions.COMPANIES))


def _register(cli_env: dict[str, str], keys: list[str]) -> None:
    with temporary_env({**cli_env, "DAGSTER_HOME": None}):
        settings.prepare_environment(start_embedded=False)
        with dg.DagsterInstance.get() as instance:
            partitions.register_companies(instance, keys)


def test_a_load_into_an_old_key_warehouse_refuses_and_names_the_fix(old_wh, cli_env):
    for attempt in range(2):  # the first adds the API id columns; the refusal must outlive that
        with pytest.raises(warehouse.OldKeyWarehouse) as raised:
            warehouse.ensure_raw_schema(old_wh)
        assert "keyed the raw tables on SOAP ids (2 companies in nmbrs.companies)" in str(raised.value), (
            attempt
        )
        assert "Fix: run `payroll db rekey`" in str(raised.value)
    before = {table: _rows(old_wh, table) for table in TABLES}

    synced = _run(["sync"], cli_env)
    assert synced.returncode == 2, synced.stderr
    assert "Configuration error: this warehouse was loaded by an earlier version" in synced.stderr
    assert "run `payroll db rekey`" in synced.stderr
    assert "Traceback" not in synced.stderr
    assert {table: _rows(old_wh, table) for table in TABLES} == before  # nothing loaded, nothing lost


def test_rekey_rekeys_every_raw_table_in_place_then_does_nothing(old_wh, cli_env):
    before = {table: _rows(old_wh, table) for table in TABLES}
    totals = _totals(old_wh)
    _register(cli_env, ["301", "302"])  # the previous version's partitions: SOAP ids

    done = _run(["db", "rekey"], cli_env)
    assert done.returncode == 0, done.stderr
    assert "301 -> 302  Bakkerij Noord BV" in done.stdout
    assert "302 -> 5  Studio Zuid BV" in done.stdout
    assert "employees: 4" in done.stdout
    assert "nmbrs.wage_components: 8" in done.stdout
    assert "nmbrs.schema_drift: 2" in done.stdout  # the row without a company keeps its null
    assert "Dagster company partitions: added 5; deleted the SOAP-id keys 301" in done.stdout
    assert "mappings/*.csv" in done.stdout
    assert "run `payroll sync` next" in done.stdout

    for table in TABLES:
        assert _rows(old_wh, table) == sorted(map(_rekeyed, before[table]), key=repr), table
    assert _totals(old_wh) == totals  # counts and Σ amounts to the cent
    with old_wh.cursor() as cur:
        cur.execute("select company_id, soap_company_id, rest_company_id from nmbrs.companies order by 1")
        assert cur.fetchall() == [(5, 302, None), (302, 301, None)]
        cur.execute("select company_id, employee_id, soap_employee_id from nmbrs.employees order by 1, 2")
        assert cur.fetchall() == [(5, 1, 302001), (5, 7, 302002), (302, 1, 301001), (302, 2, 301002)]
        cur.execute(
            "select company_id, run_number, run_id, soap_run_id from nmbrs.payroll_runs order by 1, 2"
        )
        assert cur.fetchall() == [
            (5, 1, "3029001", "3029001"),
            (5, 2, "rest-302-2", None),  # a REST-listed run: its run_id is no SOAP id
            (302, 1, "3019001", "3019001"),
            (302, 2, "rest-301-2", None),
        ]
    old_wh.rollback()
    assert _company_partitions(cli_env) == ["302", "5"]
    warehouse.ensure_raw_schema(old_wh)  # loads are allowed again

    again = _run(["db", "rekey"], cli_env)
    assert again.returncode == 0, again.stderr
    assert (
        again.stdout.strip()
        == "nothing to do: the warehouse is keyed on company and employee numbers already"
    )
    assert {table: _rows(old_wh, table) for table in TABLES} == {
        table: sorted(map(_rekeyed, before[table]), key=repr) for table in TABLES
    }
    assert _company_partitions(cli_env) == ["302", "5"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            "update nmbrs.companies set company_number = 'A-12' where company_id = 302",
            "company 302 (Studio Zuid BV): its company number 'A-12' is not a whole number",
        ),
        (
            "update nmbrs.companies set company_number = '302' where company_id = 302",
            "company number 302 is held by more than one company (SOAP ids 301, 302)",
        ),
        (
            "update nmbrs.employees set employee_number = '2' where employee_id = 301001",
            "company 301: employee number 2 is held by more than one employee",
        ),
        (
            "update nmbrs.wage_components set employee_id = 399999 where employee_id = 301001 and code = '1000'",
            "nmbrs.wage_components holds rows of employee(s) 399999 of company 301 that nmbrs.employees does not list",
        ),
        (
            "update nmbrs.journals set company_id = 303 where company_id = 302",
            "nmbrs.journals holds rows of company id(s) 303 that nmbrs.companies does not list",
        ),
    ],
)
def test_rekey_refuses_what_it_cannot_map_and_changes_nothing(old_wh, change, message):
    with old_wh.cursor() as cur:
        cur.execute(change)
    old_wh.commit()
    before = {table: _rows(old_wh, table) for table in TABLES}
    with pytest.raises(rekey.RekeyRefused) as raised:
        rekey.rekey(old_wh)
    assert message in str(raised.value)
    assert "Nothing was changed" in str(raised.value)
    assert {table: _rows(old_wh, table) for table in TABLES} == before
    with pytest.raises(warehouse.OldKeyWarehouse):  # still refused: never half-migrated
        warehouse.ensure_raw_schema(old_wh)


def test_a_warehouse_of_this_version_is_not_refused_and_needs_no_rekey(wh):
    with wh.cursor() as cur:
        cur.execute(
            "insert into nmbrs.companies (company_id, company_number, soap_company_id, _loaded_at, _source) "
            "values (1, '1', 101, now(), 'soap')"
        )
        cur.execute(
            "insert into nmbrs.companies (company_id, company_number, rest_company_id, _loaded_at, _source) "
            "values (2, '2', 'b7c1f3f0-0000-4000-8000-000000000002', now(), 'rest')"
        )
    wh.commit()
    warehouse.ensure_raw_schema(wh)
    assert rekey.rekey(wh).nothing_to_do


def test_stale_mapping_lines_name_the_line_and_the_number_to_write(tmp_path):
    (tmp_path / "company_entity_mapping.csv").write_text(
        "company_id,erp_entity\n301,NL01\n302,NL02\n5,NL03\n"
    )
    (tmp_path / "wage_component_gl_mapping.csv").write_text(
        "company_id,wage_component_code,gl_account\n,1000,4000\n301,1100,4010\n"
    )
    (tmp_path / "other.csv").write_text("code,name\n301,x\n")  # no company_id column: not read
    companies = [rekey.CompanyKey(old, number, None) for old, number in NEW_COMPANY.items()]
    lines = rekey.stale_mapping_lines(companies, tmp_path)
    assert [(line.path.name, line.line, line.old_id, line.number, line.also_a_number) for line in lines] == [
        ("company_entity_mapping.csv", 2, 301, 302, False),
        ("company_entity_mapping.csv", 3, 302, 5, True),
        ("wage_component_gl_mapping.csv", 3, 301, 302, False),
    ]


def test_the_help_lists_rekey():
    assert "rekey" in _run(["--help"], {}).stdout.split("\n  db ", 1)[1].splitlines()[0]
    assert "rekey   Re-key a warehouse loaded by an earlier version" in _run(["db", "--help"], {}).stdout
