"""The warehouse: connections, the raw schema and atomic partition loads with PostgreSQL COPY.

- `connect(url)`: a psycopg2 connection; an unreachable server raises WarehouseUnavailable naming
  host, port and database (never the password).
- `ensure_raw_schema(conn)`: every raw schema and table of docs/design.md with indexes on the
  partition keys. Idempotent and safe to run from two processes at once. A warehouse still keyed on
  SOAP ids (`old_key_companies`) is refused there with OldKeyWarehouse: every load stops until
  `payroll db rekey` (pipelines/lib/rekey.py) has re-keyed it.
- `replace_partition(conn, table, where, columns, rows, source=..., run_id=...)`: deletes the
  partition and COPYs the new rows, streamed from the iterator, in ONE transaction; concurrent
  loads of the same partition are serialised by a transaction-level advisory lock. Any error rolls
  back (the previous rows stay) and raises WarehouseLoadError naming the table and partition.
  Keys of `where` that are not in `columns` are written as constants; the load columns
  `_loaded_at`, `_dagster_run_id` and `_source` are always filled here. `before_commit(deleted,
  loaded)` may refuse the replacement by raising: the load then rolls back like any other error.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from pipelines.lib.settings import ConfigurationError, describe_server, dsn_parts

LOAD_COLUMNS = ("_loaded_at", "_dagster_run_id", "_source")
_LOAD_DDL = "_loaded_at timestamptz not null, _dagster_run_id text, _source text not null"
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
SCHEMA_LOCK = 7_362_518_001  # advisory lock key serialising concurrent DDL

RAW_SCHEMAS = ("nmbrs", "nmbrs_restricted", "erp", "payroll_private")

# table -> (columns DDL, partition-key columns to index)
RAW_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "nmbrs.environment": ("domain text, subdomain text, source_mode text", ()),
    "nmbrs.companies": (
        "company_id integer not null, company_number text, name text, period_type text, kvk_number text, "
        "phone_number text, email text, website text, soap_company_id integer, rest_company_id text",
        ("company_id",),
    ),
    "nmbrs.payroll_runs": (
        "company_id integer not null, year integer not null, run_id text not null, run_number integer, "
        "period_start integer, period_end integer, description text, run_at timestamp, is_locked boolean, "
        "run_type text, soap_run_id text, rest_run_id text",
        ("company_id", "year"),
    ),
    "nmbrs.employees": (
        "company_id integer not null, employee_id integer not null, employee_number text, display_name text, "
        "first_name text, initials text, prefix text, last_name text, gender text, start_period integer, "
        "start_year integer, creation_date timestamp, soap_employee_id integer, rest_employee_id text",
        ("company_id",),
    ),
    "nmbrs_restricted.employee_personal": (
        "company_id integer not null, employee_id integer not null, bsn text, birth_date date, email_work text",
        ("company_id",),
    ),
    "nmbrs.wage_components": (
        "company_id integer not null, year integer not null, period integer not null, "
        "employee_id integer not null, code text not null, description text, value numeric not null, "
        "source text not null",
        ("company_id", "year"),
    ),
    "nmbrs.payslips": (
        "company_id integer not null, year integer not null, run_id text not null, run_number integer, "
        "period integer not null, employee_id integer not null, code text not null, description text, "
        "value numeric not null",
        ("company_id", "year", "run_number"),
    ),
    "nmbrs.journals": (
        "company_id integer not null, company_number text, year integer not null, run_id text not null, "
        "run_number integer not null, variant text not null, "
        "journal_year integer not null, journal_period integer not null, journal_date date, line_id text, "
        "gl_account text not null, dimension text, cost_unit text, side text not null, description text, "
        "amount numeric(18,2) not null",
        ("company_id", "year", "run_number"),
    ),
    "nmbrs.employee_assignments": (
        "company_id integer not null, employee_id integer not null, kind text not null, code text not null, "
        "description text, valid_from_year integer, valid_from_period integer, assigned_at timestamp",
        ("company_id",),
    ),
    "nmbrs.source_coverage": (
        "company_id integer not null, year integer not null, source_mode text not null, "
        "wage_component_source text not null, coverage text not null",
        ("company_id", "year"),
    ),
    "nmbrs.schema_drift": (
        "asset text not null, company_id integer, year integer, element text not null, occurrences integer not null",
        ("asset", "company_id", "year"),
    ),
    "erp.chart_of_accounts": ("account text not null, name text, statement text", ()),
    "erp.gl_movements": (
        "entity text not null, account text not null, year integer not null, month integer not null, "
        "amount numeric not null",
        ("entity", "year"),
    ),
}

# Columns added after a table was first released: added to an existing warehouse at the next load
# (ensure_raw_schema), so a warehouse made before them keeps its rows. The API ids next to the keys
# (docs/nmbrs-api.md): nullable, filled by whichever API delivered the row.
ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "nmbrs.companies": (("soap_company_id", "integer"), ("rest_company_id", "text")),
    "nmbrs.employees": (("soap_employee_id", "integer"), ("rest_employee_id", "text")),
    "nmbrs.payroll_runs": (("soap_run_id", "text"), ("rest_run_id", "text")),
}

# table -> the unique key its grain implies, enforced by a unique index at every load (a listing or
# report that repeats a key is refused, naming it). Expressions for nullable columns and for the
# one-row environment table. erp.gl_movements has no key: its grain is a movement line of the file.
UNIQUE_KEYS: dict[str, tuple[str, ...]] = {
    "nmbrs.environment": ("(true)",),
    "nmbrs.companies": ("company_id",),
    "nmbrs.payroll_runs": ("company_id", "year", "run_id"),
    "nmbrs.employees": ("company_id", "employee_id"),
    "nmbrs_restricted.employee_personal": ("company_id", "employee_id"),
    "nmbrs.wage_components": ("company_id", "year", "period", "employee_id", "code"),
    "nmbrs.payslips": ("company_id", "year", "run_id", "period", "employee_id", "code"),
    "nmbrs.employee_assignments": (
        "company_id",
        "employee_id",
        "kind",
        "coalesce(valid_from_year, -1)",
        "coalesce(valid_from_period, -1)",
        "code",
    ),
    "nmbrs.source_coverage": ("company_id", "year"),
    "nmbrs.schema_drift": ("asset", "coalesce(company_id, -1)", "coalesce(year, -1)", "element"),
    "erp.chart_of_accounts": ("account",),
}

OAUTH_TOKENS_DDL = (
    "create table if not exists payroll_private.oauth_tokens ("
    "connection text primary key, refresh_token text, access_token text, "
    "access_token_expires_at timestamptz, updated_at timestamptz not null default now(), "
    "generation integer not null default 0)"
)


class WarehouseUnavailable(ConfigurationError):
    """The warehouse database cannot be reached."""


class OldKeyWarehouse(ConfigurationError):
    """The warehouse was loaded by a version that keyed the raw tables on SOAP ids (docs/upgrading.md)."""


class WarehouseLoadError(RuntimeError):
    """A partition load failed and was rolled back; the previous rows are intact."""


class DuplicateKeyError(WarehouseLoadError):
    """The rows of a load repeat the table's unique key (UNIQUE_KEYS): refused, never retried (the
    same answer would come back)."""


class DuplicateRowsInWarehouse(ConfigurationError):
    """An existing raw table already holds rows that repeat its key, so its unique index cannot be made."""


def connect(url: str, *, connect_timeout: int = 10, application_name: str = "payroll-pipeline"):
    """A psycopg2 connection (autocommit off). Raises WarehouseUnavailable with host/port/db."""
    parts = dsn_parts(url)
    try:
        return psycopg2.connect(url, connect_timeout=connect_timeout, application_name=application_name)
    except psycopg2.OperationalError as exc:
        reason = _redact_password(
            str(exc).strip().splitlines()[0] if str(exc).strip() else "", parts.password
        )
        raise WarehouseUnavailable(
            f"cannot connect to the warehouse database {parts.dbname!r} on {describe_server(url)} as "
            f"{parts.user!r} ({reason}). Fix: start the server (`payroll db start` for the embedded one) "
            "or correct PAYROLL_DATABASE_URL"
        ) from None


def fetch_all(url: str, statement: str | sql.Composable, params: tuple | dict = ()) -> list[tuple]:
    """Run one read-only statement on a short-lived connection; its rows (none for a statement without)."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def _redact_password(text: str, password: str) -> str:
    return text.replace(password, "***") if password else text


def split_table(table: str) -> tuple[str, str]:
    """'nmbrs.wage_components' -> ('nmbrs', 'wage_components'), validating both identifiers."""
    schema, dot, name = table.partition(".")
    if not dot:
        raise ValueError(f"table {table!r} must be schema-qualified, e.g. nmbrs.wage_components")
    for part in (schema, name):
        check_identifier(part)
    return schema, name


def check_identifier(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid identifier here: use lower-case letters, digits and underscores"
        )
    return name


def table_sql(table: str) -> sql.Composed:
    return sql.Identifier(*split_table(table))


def ensure_raw_schema(conn, *, refuse_old_keys: bool = True) -> None:
    """Create every raw schema, table and partition-key index that is missing (idempotent). Refuses a
    warehouse still keyed on SOAP ids with OldKeyWarehouse (not with refuse_old_keys=False: the re-key)."""
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        for schema in RAW_SCHEMAS:
            cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        for table, (columns, keys) in RAW_TABLES.items():
            schema, name = split_table(table)
            cur.execute(
                sql.SQL("create table if not exists {} (" + columns + ", " + _LOAD_DDL + ")").format(
                    sql.Identifier(schema, name)
                )
            )
            if keys:
                cur.execute(
                    sql.SQL("create index if not exists {} on {} ({})").format(
                        sql.Identifier(f"{name}_partition_idx"),
                        sql.Identifier(schema, name),
                        sql.SQL(", ").join(sql.Identifier(k) for k in keys),
                    )
                )
            for column, kind in ADDED_COLUMNS.get(table, ()):
                cur.execute(
                    sql.SQL("alter table {} add column if not exists {} " + kind).format(
                        sql.Identifier(schema, name), sql.Identifier(column)
                    )
                )
            if table in UNIQUE_KEYS:
                ensure_unique_key(cur, table)
        cur.execute(OAUTH_TOKENS_DDL)
    conn.commit()
    if refuse_old_keys:
        refuse_old_key_warehouse(conn)


# A company row of the current version always holds the id of the API that listed it (soap mode:
# soap_company_id; rest: rest_company_id; rest+soap: both). Rows with neither were loaded by the
# version that keyed company_id on the SOAP id, before these columns existed (ADDED_COLUMNS).
OLD_KEY_ROWS = sql.SQL("soap_company_id is null and rest_company_id is null")


def old_key_companies(cur) -> int:
    """How many nmbrs.companies rows were loaded by the version keyed on SOAP ids (0: none). Works
    before and after ADDED_COLUMNS gave the table its API id columns."""
    cur.execute("select to_regclass('nmbrs.companies') is not null")
    if not cur.fetchone()[0]:
        return 0
    cur.execute(
        "select count(*) from information_schema.columns where table_schema = 'nmbrs' "
        "and table_name = 'companies' and column_name in ('soap_company_id', 'rest_company_id')"
    )
    has_id_columns = cur.fetchone()[0] == 2
    condition = OLD_KEY_ROWS if has_id_columns else sql.SQL("true")
    cur.execute(sql.SQL("select count(*) from nmbrs.companies where {}").format(condition))
    return cur.fetchone()[0]


def refuse_old_key_warehouse(conn) -> None:
    """Raise OldKeyWarehouse when the warehouse is still keyed on SOAP ids; loading into it would
    write every company under a second key and count it twice in the marts."""
    try:
        with conn.cursor() as cur:
            old = old_key_companies(cur)
    finally:
        rollback_quietly(conn)
    if old:
        raise OldKeyWarehouse(
            f"this warehouse was loaded by an earlier version that keyed the raw tables on SOAP ids ({old} "
            "compan"
            + ("y" if old == 1 else "ies")
            + " in nmbrs.companies); this version keys them on the company "
            "and employee numbers (docs/nmbrs-api.md, Keys), so loading now would count every company twice. "
            "Nothing was loaded. Fix: run `payroll db rekey` once (it re-keys the rows in place, keeping them), "
            "then sync again (docs/upgrading.md)"
        )


def _key_sql(column: str) -> sql.Composable:
    return sql.Identifier(column) if _IDENTIFIER.fullmatch(column) else sql.SQL(column)


def ensure_unique_key(cur, table: str) -> None:
    """The table's unique index (UNIQUE_KEYS), also on a warehouse made before it existed. Rows that
    already repeat the key stop this with DuplicateRowsInWarehouse, naming the table, key and fix."""
    schema, name = split_table(table)
    key = UNIQUE_KEYS[table]
    index = sql.Identifier(f"{name}_unique_key")
    cur.execute("select to_regclass(%s)", (f"{schema}.{name}_unique_key",))
    if cur.fetchone()[0] is not None:
        return
    cur.execute("savepoint unique_key")
    try:
        cur.execute(
            sql.SQL("create unique index {} on {} ({})").format(
                index, sql.Identifier(schema, name), sql.SQL(", ").join(_key_sql(c) for c in key)
            )
        )
    except psycopg2.errors.UniqueViolation:
        cur.execute("rollback to savepoint unique_key")
        columns = sql.SQL(", ").join(_key_sql(c) for c in key)
        cur.execute(
            sql.SQL("select count(*) from (select 1 from {} group by {} having count(*) > 1) t").format(
                sql.Identifier(schema, name), columns
            )
        )
        repeated = cur.fetchone()[0]
        raise DuplicateRowsInWarehouse(
            f"{schema}.{name} already holds {repeated} key(s) ({', '.join(key)}) on more than one row, loaded "
            "before the warehouse enforced that key, so its unique index cannot be created. Fix: empty the "
            f"table (`truncate {schema}.{name}`) and run `payroll sync --full-refresh` to load it again"
        ) from None
    cur.execute("release savepoint unique_key")


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SPECIAL = re.compile(r"[\\\t\n\r]")


def copy_text(value: Any) -> str:
    """One value in PostgreSQL COPY text format."""
    if value is None:
        return "\\N"
    kind = type(value)
    if kind is str:
        return value.translate(_ESCAPES) if _SPECIAL.search(value) else value
    if kind is int or kind is Decimal:
        if kind is Decimal and not value.is_finite():
            raise ValueError("a non-finite amount (NaN/Infinity) cannot be loaded")
        return str(value)
    if kind is bool:
        return "t" if value else "f"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, int | float | Decimal):
        if isinstance(value, float):
            raise TypeError("floats are not loaded: amounts must be Decimal")
        return str(value)
    return str(value).translate(_ESCAPES)


def _slow_line(row: Sequence[Any]) -> str:
    return "\t".join(map(copy_text, row))


class CopySource(io.TextIOBase):
    """A file-like object psycopg2's copy_expert reads: rows rendered to COPY text on demand.

    Fast path: `"%s\t%s..." % row` in C, used only when the result is provably what copy_text
    would give (no None, float, NaN/Infinity, tab, newline, carriage return or backslash in it);
    any other row goes through copy_text value by value.
    """

    def __init__(self, rows: Iterable[Sequence[Any]], suffix: str = ""):
        self._rows: Iterator[Sequence[Any]] = iter(rows)
        self._suffix = suffix + "\n"
        self._buffer = ""
        self._template: str | None = None
        self._tabs = 0
        self.count = 0
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> str:
        try:
            return self._read(size)
        except BaseException as exc:  # psycopg2 keeps only its text: keep the exception for the caller
            self.error = exc
            raise

    def _read(self, size: int) -> str:
        want = size if size and size > 0 else 1 << 20
        parts = [self._buffer]
        have = len(self._buffer)
        suffix = self._suffix
        template = self._template
        tabs = self._tabs
        for row in self._rows:
            if template is None:
                template = self._template = "\t".join(["%s"] * len(row))
                tabs = self._tabs = len(row) - 1
            try:
                line = template % tuple(row)
            except TypeError:  # a row of another length: copy_text reports what is wrong
                line = _slow_line(row)
            else:
                if (
                    "None" in line
                    or float in map(type, row)
                    or line.count("\t") != tabs
                    or "\\" in line
                    or "\n" in line
                    or "\r" in line
                    or "NaN" in line
                    or "Infinity" in line
                ):
                    line = _slow_line(row)
            line += suffix
            parts.append(line)
            have += len(line)
            self.count += 1
            if have >= want:
                break
        data = "".join(parts)
        self._buffer = data[want:]
        return data[:want]

    def readline(self, size: int = -1) -> str:  # pragma: no cover - psycopg2 only calls read()
        return self.read(size)


def _describe(where: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in where.items()) or "whole table"


def safe_db_error(exc: BaseException) -> str:
    """A database error without row data: the primary message with quoted values removed, and where."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    text = re.sub(r'"[^"]*"', '"..."', text)
    context = getattr(diag, "context", None) if diag is not None else None
    if context:
        match = re.search(r"COPY \S+, line \d+(, column \w+)?", context)
        if match:
            text += f" ({match.group(0)})"
    return text


def replace_partition(
    conn,
    table: str,
    where: Mapping[str, Any],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    source: str,
    run_id: str | None = None,
    loaded_at: dt.datetime | None = None,
    before_commit: Callable[[int, int], None] | None = None,
) -> int:
    """Replace the rows of `table` matching `where` by `rows`, atomically. Returns rows loaded.

    `rows` are tuples in the order of `columns`. `where` keys missing from `columns` are appended
    as constants, then `_loaded_at`, `_dagster_run_id` (run_id) and `_source` (source).
    `before_commit(rows deleted, rows loaded)` runs inside the transaction; raising rolls it back.
    """
    if not columns:
        raise ValueError("replace_partition needs at least one column")
    schema, name = split_table(table)
    for column in (*columns, *where):
        check_identifier(column)
    constants = {key: value for key, value in where.items() if key not in columns}
    loaded_at = loaded_at or dt.datetime.now(dt.UTC)
    constant_values = [*constants.values(), loaded_at, run_id, source]
    all_columns = [*columns, *constants, *LOAD_COLUMNS]
    suffix = "".join("\t" + copy_text(value) for value in constant_values)
    target = sql.Identifier(schema, name)
    condition = (
        sql.SQL(" and ").join(sql.SQL("{} = %s").format(sql.Identifier(key)) for key in where)
        if where
        else sql.SQL("true")
    )
    delete = sql.SQL("delete from {} where {}").format(target, condition)
    copy = sql.SQL("copy {} ({}) from stdin").format(
        target, sql.SQL(", ").join(sql.Identifier(c) for c in all_columns)
    )
    source_file = CopySource(rows, suffix)
    try:
        with conn.cursor() as cur:
            # Two loads of one partition at once (two sensors, a sensor and a sync) must not both
            # keep their rows: the second waits here until the first commits, then replaces it.
            cur.execute(
                "select pg_advisory_xact_lock(hashtext(%s), hashtext(%s))",
                (f"{schema}.{name}", _partition_lock_key(where)),
            )
            cur.execute(delete, list(where.values()))
            deleted = cur.rowcount
            cur.copy_expert(copy.as_string(conn), source_file, size=1 << 18)
            if before_commit is not None:
                before_commit(deleted, source_file.count)
        conn.commit()
    except BaseException as exc:
        rollback_quietly(conn)
        cause = source_file.error or exc  # an error of the rows (a broken download, bad content)
        if not isinstance(cause, Exception):  # Ctrl-C, SIGTERM, exit: rolled back, never a load error
            raise cause from None
        if isinstance(cause, psycopg2.errors.UniqueViolation):
            raise DuplicateKeyError(
                f"loading {schema}.{name} partition ({_describe(where)}) was refused and rolled back; the "
                f"previous rows are kept. Cause: the rows repeat the key {_repeated_key(cause)}, which "
                f"{schema}.{name} holds once. Fix: the answer from the source repeats a block; run the sync "
                "again later, and if it persists report it to the source's support with this key"
            ) from None
        if isinstance(cause, psycopg2.Error):
            reason = safe_db_error(cause)
        else:
            reason = f"{type(cause).__name__}: {cause}"
        raise WarehouseLoadError(
            f"loading {schema}.{name} partition ({_describe(where)}) failed and was rolled back; "
            f"the previous rows are kept. Cause: {reason}"
        ) from cause
    return source_file.count


_KEY_DETAIL = re.compile(r"Key \((?P<columns>.*)\)=\((?P<values>.*)\) already exists")


def _repeated_key(exc: BaseException) -> str:
    """`(company_id, year, ...) = (103, 2025, ...)` from a unique violation (ids, periods and codes:
    the raw tables' keys hold no personal data)."""
    detail = getattr(getattr(exc, "diag", None), "message_detail", None) or ""
    match = _KEY_DETAIL.search(detail)
    if not match:
        return "(see the table's unique key in docs/design.md)"
    columns = [c.strip() for c in match.group("columns").split(",")]
    values = [v.strip() for v in match.group("values").split(",")]
    if len(columns) != len(values):
        return f"({match.group('columns')}) = ({match.group('values')})"
    names = [re.sub(r"^coalesce\((\w+), -?\d+\)$", r"\1", c) for c in columns]
    return ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))


def _partition_lock_key(where: Mapping[str, Any]) -> str:
    return "&".join(f"{key}={value}" for key, value in sorted(where.items()))


def rollback_quietly(conn) -> None:
    if conn.closed:
        return
    try:
        conn.rollback()
    except psycopg2.Error:
        pass
