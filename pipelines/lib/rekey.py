"""Re-keying a warehouse loaded by a version that keyed the raw tables on SOAP ids (docs/upgrading.md).

Before the keys of docs/nmbrs-api.md ("Keys"), `company_id` in every raw table was the SOAP company
id and `employee_id` the SOAP employee id. Such a warehouse is recognised by
`warehouse.old_key_companies`: rows of nmbrs.companies with neither `soap_company_id` nor
`rest_company_id` (the current version fills at least one of them on every company row, whichever
API listed it; a warehouse made before those columns has them all null once `ensure_raw_schema`
added them). Loads refuse it (`warehouse.OldKeyWarehouse`) until `rekey(conn)` has run.

`rekey(conn)` re-keys every raw table in place, in ONE transaction: company_id old SOAP id →
company number (nmbrs.companies.company_number), employee_id old SOAP employee id → employee number
(nmbrs.employees.employee_number), and keeps the old ids in the API id columns. Anything it cannot
map (a number that is not whole, a number used twice, a row of a company or employee that
nmbrs.companies/nmbrs.employees do not hold) refuses the whole re-key, naming it; nothing changes.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
from psycopg2 import sql
from psycopg2.extras import execute_values

from pipelines.lib import warehouse
from pipelines.lib.settings import ConfigurationError

_WHOLE = re.compile(r"\s*\d+\s*")
_OLD_ROWS = warehouse.OLD_KEY_ROWS


class RekeyRefused(ConfigurationError):
    """The warehouse cannot be re-keyed as it is; nothing was changed."""


@dataclass(frozen=True)
class CompanyKey:
    old_id: int  # the SOAP company id the previous version keyed on
    number: int  # the company number, the key from now on
    name: str | None


@dataclass(frozen=True)
class MappingLine:
    """A line of mappings/*.csv whose company_id is an old SOAP id."""

    path: Path
    line: int
    old_id: int
    number: int
    also_a_number: bool  # the old id is also the number of another company: check which one is meant


@dataclass
class RekeyResult:
    companies: list[CompanyKey] = field(default_factory=list)
    employees: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows re-keyed

    @property
    def nothing_to_do(self) -> bool:
        return not self.companies


def keyed_tables(column: str) -> list[str]:
    """The raw tables (warehouse.RAW_TABLES) that have `column` as an integer column."""
    pattern = re.compile(rf"(^|,\s*){column} integer\b")
    return [table for table, (columns, _) in warehouse.RAW_TABLES.items() if pattern.search(columns)]


def rekey(conn) -> RekeyResult:
    """Re-key every raw table from SOAP ids to numbers, in one transaction (see the module doc).
    Returns what changed; an empty result when there is nothing to do. Refusals raise RekeyRefused."""
    warehouse.ensure_raw_schema(conn, refuse_old_keys=False)  # the API id columns exist
    try:
        with conn.cursor() as cur:
            result = _rekey(cur)
        conn.commit()
    except psycopg2.Error as exc:
        warehouse.rollback_quietly(conn)
        raise RekeyRefused(
            f"the re-key failed and was rolled back; nothing was changed. Cause: {warehouse.safe_db_error(exc)}"
        ) from None
    except BaseException:
        warehouse.rollback_quietly(conn)
        raise
    return result


def _rekey(cur) -> RekeyResult:
    company_tables = keyed_tables("company_id")
    employee_tables = keyed_tables("employee_id")
    cur.execute("select pg_advisory_xact_lock(%s)", (warehouse.SCHEMA_LOCK,))
    cur.execute(
        sql.SQL("lock table {} in exclusive mode").format(
            sql.SQL(", ").join(warehouse.table_sql(t) for t in company_tables)
        )
    )
    result = RekeyResult()
    if not warehouse.old_key_companies(cur):
        return result
    cur.execute(sql.SQL("select count(*) from nmbrs.companies where not ({})").format(_OLD_ROWS))
    if cur.fetchone()[0]:
        raise RekeyRefused(
            "nmbrs.companies holds companies keyed on SOAP ids next to companies keyed on numbers, so the rows of "
            "the other tables cannot be told apart. Nothing was changed. Fix: empty the raw tables (or make a new "
            "warehouse) and run `payroll sync --full-refresh`"
        )
    result.companies = _company_keys(cur)
    employees = _employee_keys(cur)
    result.employees = len(employees)
    for table in company_tables:
        _refuse_unmapped(cur, table, table in employee_tables)

    cur.execute(
        "create temporary table rekey_companies (old_id integer primary key, number integer) on commit drop"
    )
    execute_values(
        cur, "insert into rekey_companies values %s", [(c.old_id, c.number) for c in result.companies]
    )
    cur.execute(
        "create temporary table rekey_employees (company_old integer, employee_old integer, company_number integer, "
        "employee_number integer, primary key (company_old, employee_old)) on commit drop"
    )
    if employees:
        execute_values(cur, "insert into rekey_employees values %s", employees)

    unique_keyed = [t for t in company_tables if t in warehouse.UNIQUE_KEYS]
    for table in unique_keyed:  # keys swap places while the rows are updated one by one
        schema, name = warehouse.split_table(table)
        cur.execute(sql.SQL("drop index if exists {}").format(sql.Identifier(schema, f"{name}_unique_key")))
    for table in company_tables:
        result.rows[table] = _rekey_table(cur, table, table in employee_tables)
    for table in unique_keyed:
        warehouse.ensure_unique_key(cur, table)
    return result


def _company_keys(cur) -> list[CompanyKey]:
    cur.execute(
        sql.SQL("select company_id, company_number, name from nmbrs.companies where {} order by 1").format(
            _OLD_ROWS
        )
    )
    keys = []
    for old_id, number, name in cur.fetchall():
        if number is None or not number.isascii() or not _WHOLE.fullmatch(number):
            raise RekeyRefused(
                f"company {old_id} ({name}): its company number {number!r} is not a whole number, and the "
                "warehouse now keys companies on that number (docs/nmbrs-api.md). Nothing was changed. Fix: give "
                "the company a numeric company number in Nmbrs, delete its rows (or the whole warehouse) and run "
                "`payroll sync --full-refresh`"
            )
        keys.append(CompanyKey(old_id, int(number), name))
    repeated = sorted(n for n, count in Counter(k.number for k in keys).items() if count > 1)
    if repeated:
        holders = ", ".join(str(k.old_id) for k in keys if k.number == repeated[0])
        raise RekeyRefused(
            f"company number {repeated[0]} is held by more than one company (SOAP ids {holders}), so it cannot be "
            "their key. Nothing was changed. Fix: give each company its own number in Nmbrs, then run "
            "`payroll db rekey` again"
        )
    return keys


def _employee_keys(cur) -> list[tuple[int, int, int, int]]:
    """(company old id, employee old id, company number, employee number) of every employee row."""
    cur.execute(
        "select e.company_id, e.employee_id, c.company_number, e.employee_number from nmbrs.employees e "
        "join nmbrs.companies c on c.company_id = e.company_id order by 1, 2"
    )
    rows = []
    for company_old, employee_old, company_number, employee_number in cur.fetchall():
        if employee_number is None or not employee_number.isascii() or not _WHOLE.fullmatch(employee_number):
            raise RekeyRefused(
                f"company {company_old}: the employee with SOAP id {employee_old} has the employee number "
                f"{employee_number!r}, not a whole number, and the warehouse now keys employees on that number. "
                "Nothing was changed. Fix: give the employee a numeric employee number in Nmbrs, delete the "
                "company's rows and run `payroll sync --full-refresh`"
            )
        rows.append((company_old, employee_old, int(company_number), int(employee_number)))
    repeated = sorted(key for key, count in Counter((r[0], r[3]) for r in rows).items() if count > 1)
    if repeated:
        company_old, number = repeated[0]
        raise RekeyRefused(
            f"company {company_old}: employee number {number} is held by more than one employee, so it cannot be "
            "their key. Nothing was changed. Fix: give each employee its own number in Nmbrs, then run "
            "`payroll db rekey` again"
        )
    return rows


def _refuse_unmapped(cur, table: str, by_employee: bool) -> None:
    """Refuse when `table` holds a row of a company (or employee) that the companies/employees do not hold."""
    target = warehouse.table_sql(table)
    cur.execute(
        sql.SQL(
            "select distinct t.company_id from {} t where t.company_id is not null and not exists "
            "(select 1 from nmbrs.companies c where c.company_id = t.company_id) order by 1 limit 5"
        ).format(target)
    )
    companies = [row[0] for row in cur.fetchall()]
    employees: list[tuple[int, int]] = []
    if by_employee and table != "nmbrs.employees":
        cur.execute(
            sql.SQL(
                "select distinct t.company_id, t.employee_id from {} t where not exists (select 1 from nmbrs.employees "
                "e where e.company_id = t.company_id and e.employee_id = t.employee_id) order by 1, 2 limit 5"
            ).format(target)
        )
        employees = cur.fetchall()
    if companies or employees:
        what = (
            f"company id(s) {', '.join(map(str, companies))} that nmbrs.companies does not list"
            if companies
            else "employee(s) "
            + ", ".join(f"{e} of company {c}" for c, e in employees)
            + " that nmbrs.employees "
            "does not list"
        )
        raise RekeyRefused(
            f"{table} holds rows of {what}, so their new keys are unknown. Nothing was changed. Fix: delete those "
            f"rows (or empty {table}) and run `payroll db rekey` again; `payroll sync --full-refresh` loads them "
            "again afterwards"
        )


# The old ids kept next to the new keys (docs/nmbrs-api.md, Keys). Runs: the previous version wrote
# the SOAP run id in run_id for SOAP-listed runs; run_id itself stays (a run is keyed on its number).
_API_ID_COLUMNS = {
    "nmbrs.companies": ", soap_company_id = t.company_id",
    "nmbrs.employees": ", soap_employee_id = t.employee_id",
    "nmbrs.payroll_runs": ", soap_run_id = case when t._source = 'soap' then t.run_id else t.soap_run_id end",
}


def _rekey_table(cur, table: str, by_employee: bool) -> int:
    """Re-key every row of `table` (one statement: each row is matched on its old key exactly once)."""
    target = warehouse.table_sql(table)
    api_id = sql.SQL(_API_ID_COLUMNS.get(table, ""))
    if by_employee:
        statement = sql.SQL(
            "update {} t set company_id = m.company_number, employee_id = m.employee_number{} "
            "from rekey_employees m where t.company_id = m.company_old and t.employee_id = m.employee_old"
        ).format(target, api_id)
    else:
        statement = sql.SQL(
            "update {} t set company_id = m.number{} from rekey_companies m where t.company_id = m.old_id"
        ).format(target, api_id)
    cur.execute(sql.SQL("select count(*) from {} where company_id is not null").format(target))
    expected = cur.fetchone()[0]
    cur.execute(statement)
    if cur.rowcount != expected:  # _refuse_unmapped rules this out; never commit a half re-key
        raise RekeyRefused(
            f"{table}: re-keyed {cur.rowcount} of {expected} rows; rolled back, nothing was changed"
        )
    return cur.rowcount


def stale_mapping_lines(companies: list[CompanyKey], mappings_dir: Path) -> list[MappingLine]:
    """The lines of mappings/*.csv whose company_id is an old SOAP id that is not also its number."""
    by_old = {c.old_id: c.number for c in companies if c.old_id != c.number}
    numbers = {c.number for c in companies}
    lines = []
    for path in sorted(mappings_dir.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if "company_id" not in (reader.fieldnames or ()):
                continue
            for row in reader:
                text = (row["company_id"] or "").strip()
                if text.isdigit() and int(text) in by_old:
                    old = int(text)
                    lines.append(MappingLine(path, reader.line_num, old, by_old[old], old in numbers))
    return lines
