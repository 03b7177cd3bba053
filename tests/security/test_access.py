"""Scenario 12: who can read what, and where personal data may live.

The BI role's grants (marts only; raw, private and staging refused; no writes) are proved on the
synced demo in tests/bi/test_bi_access.py and tests/dbt/test_marts.py. Here: a default install
stores no BSN or birth date anywhere (not in a column, not as a value in any table), and the stored
OAuth tokens are unreadable to any role but the pipeline's own.
"""

from __future__ import annotations

import psycopg2
import pytest
from psycopg2 import errors, sql

from tests.support.pipeline import record_figure

pytestmark = pytest.mark.security

PERSONAL_COLUMN = r"(bsn|birth|geboorte|sofi|burgerservice)"


def test_the_default_install_stores_no_bsn_or_birth_date(secured):
    pipeline = secured.pipeline
    assert pipeline.query("select count(*) from nmbrs_restricted.employee_personal") == [(0,)]
    columns = pipeline.query(
        "select table_schema || '.' || table_name || '.' || column_name from information_schema.columns "
        "where column_name ~* %s and table_schema not in ('nmbrs_restricted', 'pg_catalog', 'information_schema')",
        (PERSONAL_COLUMN,),
    )
    assert columns == [], "a column for personal identifiers outside nmbrs_restricted"

    tables = pipeline.query(
        "select table_schema, table_name from information_schema.tables where table_schema not in "
        "('pg_catalog', 'information_schema') and table_type in ('BASE TABLE', 'VIEW')"
    )
    needles = sorted(secured.bsns | secured.birth_dates)
    found, rows_scanned = [], 0
    for schema, table in tables:
        relation = sql.Identifier(schema, table)
        rows_scanned += pipeline.query(sql.SQL("select count(*) from {}").format(relation))[0][0]
        hits = pipeline.query(
            sql.SQL(
                "select n from unnest(%s::text[]) n where exists "
                "(select 1 from {} t where strpos(t::text, n) > 0)"
            ).format(relation),
            (needles,),
        )
        found += [f"{schema}.{table}" for _ in hits]
    assert found == [], f"BSNs or birth dates stored in {sorted(set(found))}"
    record_figure(
        "12_no_bsn_by_default",
        tables_scanned=len(tables),
        rows_scanned=rows_scanned,
        values_searched=len(needles),
        found=0,
    )


def test_stored_oauth_tokens_are_readable_only_by_the_pipeline(secured):
    pipeline = secured.pipeline
    stored = "select count(*) from payroll_private.oauth_tokens where refresh_token is not null"
    assert pipeline.query(stored) == [(1,)]
    roles = pipeline.query(
        "select r.rolname from pg_roles r where not r.rolsuper and r.rolname !~ '^pg_' and "
        "(has_table_privilege(r.oid, 'payroll_private.oauth_tokens', 'select') or "
        " has_schema_privilege(r.oid, 'payroll_private', 'usage'))"
    )
    assert roles == [], "a non-superuser role can read the token table"
    conn = psycopg2.connect(pipeline.database_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("set role payroll_bi")
            with pytest.raises(errors.InsufficientPrivilege):
                cur.execute("select refresh_token from payroll_private.oauth_tokens")
    finally:
        conn.close()
