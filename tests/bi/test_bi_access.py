"""The read-only BI role on the synced demo: reads every mart, is refused everywhere else, writes nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg2
import pytest
from psycopg2 import errors, sql

BI_ROLE = "payroll_bi"
MARTS = (
    "fct_payroll_lines",
    "payroll_company_costs_monthly",
    "payroll_gl_reconciliation",
    "unmapped_wage_components",
    "dim_companies",
    "dim_employees",
    "dim_wage_components",
)
CLOSED = (
    ("nmbrs", "companies"),
    ("nmbrs", "wage_components"),
    ("nmbrs", "employees"),
    ("nmbrs_restricted", "employee_personal"),
    ("erp", "chart_of_accounts"),
    ("erp", "gl_movements"),
    ("payroll_private", "oauth_tokens"),
    ("staging", "wage_component_gl_mapping"),
    ("staging", "stg_nmbrs__wage_components"),
)


@pytest.fixture
def as_bi(synced_demo) -> Iterator:
    """A session on the demo warehouse that has switched to the BI role (as a login would be)."""
    conn = psycopg2.connect(os.environ["PAYROLL_DATABASE_URL"])
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("set role {}").format(sql.Identifier(BI_ROLE)))
    try:
        yield conn
    finally:
        conn.close()


def _fails_with_permission_denied(conn, statement: sql.Composable) -> str:
    with conn.cursor() as cur, pytest.raises(errors.InsufficientPrivilege) as raised:
        cur.execute(statement)
    return str(raised.value)


def test_bi_role_exists_without_admin_rights(synced_demo):
    conn = psycopg2.connect(os.environ["PAYROLL_DATABASE_URL"])
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = %s", (BI_ROLE,)
            )
            assert cur.fetchone() == (False, False, False)
    finally:
        conn.close()


def test_bi_role_reads_every_mart(synced_demo, as_bi):
    admin = psycopg2.connect(os.environ["PAYROLL_DATABASE_URL"])
    try:
        with admin.cursor() as cur:
            cur.execute("select tablename from pg_tables where schemaname = 'marts'")
            tables = {row[0] for row in cur.fetchall()}
    finally:
        admin.close()
    assert set(MARTS) <= tables
    counts = {}
    with as_bi.cursor() as cur:
        for table in sorted(tables):
            cur.execute(sql.SQL("select count(*) from {}").format(sql.Identifier("marts", table)))
            counts[table] = cur.fetchone()[0]
    assert all(counts[mart] > 0 for mart in MARTS if mart != "unmapped_wage_components"), counts


def test_bi_role_sees_the_numbers(as_bi):
    with as_bi.cursor() as cur:
        cur.execute("select status, count(*) from marts.payroll_gl_reconciliation group by status")
        statuses = dict(cur.fetchall())
    assert statuses["matched"] > 0
    assert {"difference", "missing_in_erp", "missing_in_payroll"} <= statuses.keys()


@pytest.mark.parametrize(("schema", "table"), CLOSED, ids=[f"{s}.{t}" for s, t in CLOSED])
def test_bi_role_is_denied_on_raw_private_and_staging(as_bi, schema, table):
    message = _fails_with_permission_denied(
        as_bi, sql.SQL("select * from {} limit 1").format(sql.Identifier(schema, table))
    )
    assert "permission denied" in message


def test_bi_role_cannot_change_the_marts(as_bi):
    _fails_with_permission_denied(as_bi, sql.SQL("delete from marts.payroll_gl_reconciliation"))
    _fails_with_permission_denied(as_bi, sql.SQL("update marts.dim_companies set company_name = 'x'"))
    _fails_with_permission_denied(as_bi, sql.SQL("create table marts.bi_scratch (x int)"))
