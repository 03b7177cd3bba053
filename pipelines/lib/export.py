"""`payroll export`: the marts as flat "data table" files for spreadsheets and notebooks, and the chart.

The tables are read from the marts as they are (the pivot data table is the mart
payroll_data_table). CSV and Parquet give one file per table; XLSX gives one workbook with a summary
sheet, the reconciliation work list (open differences, largest first), a sheet per table and the
three-way reconciliation (payroll, Nmbrs's journal, ERP per entity; differences first). Amounts
stay exact all the way: numeric → Decimal → a decimal in CSV, a numeric cell in XLSX, decimal128 in
Parquet (spreadsheet rules in pipelines/lib/spreadsheet.py). Files are written to a temporary folder
first and moved into place at the end, so a failed export leaves the previous files as they were.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from psycopg2 import sql

from pipelines.lib.spreadsheet import CSV_DIALECTS, Column, CsvDialect, Sheet, write_csv, write_workbook

FORMATS = ("csv", "xlsx", "parquet")
CHART_FILE = "payroll_company_costs.png"
WORKBOOK_FILE = "payroll_export.xlsx"
REQUIRED_MARTS = (
    "marts.payroll_data_table",
    "marts.dim_companies",
    "marts.payroll_company_costs_monthly",
    "marts.payroll_balance_sheet_postings_monthly",
    "marts.payroll_gl_reconciliation",
    "marts.payroll_three_way_reconciliation",
)
MIN_SCALE = 2  # money: at least cents, more if the data has more

# psycopg2 type codes (PostgreSQL OIDs) → the kind of column written
KINDS = {16: "bool", 20: "int", 21: "int", 23: "int", 25: "text", 1043: "text", 1082: "date", 1700: "decimal"}


class ExportError(RuntimeError):
    """The export cannot run; the message says why and what to do."""


@dataclass(frozen=True)
class ExportQuery:
    name: str  # file stem and Excel Table name
    title: str  # sheet title
    sql: str  # a SELECT with `{filters}` where company and year filters go
    amount_columns: tuple[str, ...]  # totals printed by the command
    alias: str = ""  # the table alias that qualifies company_id and year in the filters


DATA_TABLE = ExportQuery(
    name="payroll_data_table",
    title="Data table",
    sql="""
select * from marts.payroll_data_table
where true {filters}
order by company_id, year, month, statement desc, gl_account, wage_component_code
""",
    amount_columns=("nmbrs_amount", "amount"),
)

_MONTHLY_POSTINGS = """
select
    company_id, company_name, erp_entity, period_type, year, month, month_start, payroll_periods,
    statement, gl_account, gl_account_name, employee_count, amount
from marts.{mart}
where true {{filters}}
order by company_id, year, month, gl_account
"""

COMPANY_COSTS = ExportQuery(
    name="payroll_company_costs_monthly",
    title="Company costs",
    sql=_MONTHLY_POSTINGS.format(mart="payroll_company_costs_monthly"),
    amount_columns=("amount",),
)

BALANCE_SHEET_POSTINGS = ExportQuery(
    name="payroll_balance_sheet_postings_monthly",
    title="Balance sheet postings",
    sql=_MONTHLY_POSTINGS.format(mart="payroll_balance_sheet_postings_monthly"),
    amount_columns=("amount",),
)

_RECONCILIATION = """
select
    recon.company_id, recon.company_name, recon.erp_entity, companies.period_type, recon.year,
    recon.month, recon.month_start, recon.statement, recon.gl_account, recon.gl_account_name,
    recon.payroll_amount, recon.erp_amount, recon.difference, recon.status
from marts.payroll_gl_reconciliation as recon
left join marts.dim_companies as companies on companies.company_id = recon.company_id
where {where} {{filters}}
order by {order}
"""

RECONCILIATION = ExportQuery(
    name="payroll_gl_reconciliation",
    title="Reconciliation",
    sql=_RECONCILIATION.format(
        where="true",
        order="recon.company_id, recon.year, recon.month, recon.statement desc, recon.gl_account",
    ),
    amount_columns=("payroll_amount", "erp_amount", "difference"),
    alias="recon.",
)

WORK_LIST = ExportQuery(
    name="payroll_reconciliation_work_list",
    title="Work list",
    sql=_RECONCILIATION.format(
        where="recon.status <> 'matched'",
        order="abs(recon.difference) desc, recon.company_id, recon.year, recon.month, recon.gl_account",
    ),
    amount_columns=("difference",),
    alias="recon.",
)

# Per ERP entity: a company filter keeps the entities of those companies, a year filter the year.
THREE_WAY = ExportQuery(
    name="payroll_three_way_reconciliation",
    title="Three-way",
    sql="""
select
    tw.erp_entity, tw.company_ids, tw.year, tw.month, tw.month_start, tw.statement, tw.gl_account,
    tw.gl_account_name, tw.payroll_amount, tw.journal_amount, tw.erp_amount, tw.mapping_difference,
    tw.erp_difference, tw.difference, tw.journal_loaded, tw.status, tw.booking_basis
from marts.payroll_three_way_reconciliation as tw
where exists (
    select 1
    from (
        select companies.company_id, tw.year
        from marts.dim_companies as companies
        where companies.erp_entity = tw.erp_entity
    ) as scope
    where true {filters}
)
order by tw.status = 'matched', tw.erp_entity, tw.year, tw.month, tw.statement desc, tw.gl_account
""",
    amount_columns=("mapping_difference", "erp_difference", "difference"),
    alias="scope.",
)

QUERIES = (DATA_TABLE, COMPANY_COSTS, BALANCE_SHEET_POSTINGS, RECONCILIATION, WORK_LIST, THREE_WAY)
WORKBOOK_ORDER = (
    WORK_LIST,
    DATA_TABLE,
    COMPANY_COSTS,
    BALANCE_SHEET_POSTINGS,
    RECONCILIATION,
    THREE_WAY,
)  # after Summary


@dataclass(frozen=True)
class ExportedFile:
    """A file written, or one sheet of the workbook (then `sheet` names it)."""

    path: Path
    rows: int | None  # None for the chart and the workbook itself
    totals: dict[str, Decimal]
    detail: str = ""
    sheet: str | None = None


@dataclass(frozen=True)
class Filters:
    companies: tuple[int, ...] = ()
    year: int | None = None


def total(sheet: Sheet, column: str, statement: str | None = None) -> Decimal:
    names = [c.name for c in sheet.columns]
    position = names.index(column)
    rows = (
        sheet.rows
        if statement is None
        else [r for r in sheet.rows if r[names.index("statement")] == statement]
    )
    return sum((row[position] for row in rows if row[position] is not None), Decimal(0))


def totals(sheet: Sheet, query: ExportQuery) -> dict[str, Decimal]:
    """The amount totals of a table; per statement where it holds both, since P&L costs and their
    balance-sheet counterparts cancel out to 0.00 when summed together."""
    names = [c.name for c in sheet.columns]
    statements = (
        sorted({row[names.index("statement")] for row in sheet.rows} - {None}, reverse=True)
        if "statement" in names
        else []
    )
    if len(statements) < 2:
        return {column: total(sheet, column) for column in query.amount_columns}
    return {
        f"{column} {statement}": total(sheet, column, statement)
        for column in query.amount_columns
        for statement in statements
    }


def check_marts(conn) -> None:
    """Raise a clear error when the marts have not been built in this warehouse yet."""
    with conn.cursor() as cur:
        missing = []
        for name in REQUIRED_MARTS:
            cur.execute("select to_regclass(%s) is null", (name,))
            if cur.fetchone()[0]:
                missing.append(name)
    if missing:
        raise ExportError(
            f"the marts are not built in this warehouse yet (missing {', '.join(missing)}): "
            "run `payroll sync` first"
        )


def _conditions(filters: Filters, company_column: str, year_column: str | None) -> tuple[sql.Composed, dict]:
    conditions = []
    params: dict[str, object] = {}
    if filters.companies:
        conditions.append(sql.SQL(" and {} = any(%(companies)s)").format(sql.SQL(company_column)))
        params["companies"] = list(filters.companies)
    if filters.year is not None and year_column is not None:
        conditions.append(sql.SQL(" and {} = %(year)s").format(sql.SQL(year_column)))
        params["year"] = filters.year
    return sql.Composed(conditions), params


def fetch(conn, query: ExportQuery, filters: Filters) -> Sheet:
    conditions, params = _conditions(filters, f"{query.alias}company_id", f"{query.alias}year")
    statement = sql.SQL(query.sql).format(filters=conditions)
    with conn.cursor() as cur:
        cur.execute(statement, params)
        rows = cur.fetchall()
        described = [(d.name, KINDS.get(d.type_code, "text")) for d in cur.description]
    columns = tuple(
        Column(name, kind, _scale(rows, position) if kind == "decimal" else None)
        for position, (name, kind) in enumerate(described)
    )
    return Sheet(query.name, query.title, columns, [_normalized(row, columns) for row in rows])


def as_of(conn, filters: Filters) -> dt.datetime | None:
    """When the payroll of the exported companies was last loaded from Nmbrs (the figures' "as of")."""
    conditions, params = _conditions(filters, "company_id", None)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("select max(payroll_loaded_at) from marts.dim_companies where true {}").format(
                conditions
            ),
            params,
        )
        return cur.fetchone()[0]


def as_of_text(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "no payroll loaded"


def _scale(rows: Sequence[tuple], position: int) -> int:
    exponents = [-row[position].as_tuple().exponent for row in rows if row[position] is not None]
    return max([MIN_SCALE, *exponents])


def _normalized(row: tuple, columns: Sequence[Column]) -> tuple:
    """Decimals at their column's scale (exact: the scale is at least every value's own)."""
    return tuple(
        value.quantize(Decimal(1).scaleb(-column.scale))
        if column.kind == "decimal" and value is not None
        else value
        for value, column in zip(row, columns, strict=True)
    )


def _arrow_type(column: Column):
    import pyarrow as pa

    return {
        "int": pa.int64(),
        "text": pa.string(),
        "date": pa.date32(),
        "bool": pa.bool_(),
    }.get(column.kind) or pa.decimal128(38, column.scale)


def write_parquet(sheet: Sheet, path: Path) -> None:
    """Typed columns, text exactly as in the marts (Parquet is read by code, which evaluates nothing)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = [
        pa.array([row[position] for row in sheet.rows], type=_arrow_type(column))
        for position, column in enumerate(sheet.columns)
    ]
    schema = pa.schema([pa.field(c.name, _arrow_type(c)) for c in sheet.columns])
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)


def _rows_as_records(sheet: Sheet) -> list[dict]:
    names = [c.name for c in sheet.columns]
    return [dict(zip(names, row, strict=True)) for row in sheet.rows]


def write_chart(costs: Sheet, path: Path, moment: dt.datetime | None) -> None:
    """Company costs (P&L) per month, one line per company; a month that books more than one payroll
    period is marked with its period labels (two four-weekly periods in one month)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    series: dict[str, dict[dt.date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    periods: dict[tuple[str, dt.date], str] = {}
    for record in _rows_as_records(costs):
        # a company name is plain text: matplotlib would read text between `$` signs as math
        name = re.sub(r"\s+", " ", record["company_name"] or "").replace("$", r"\$")
        label = f"{record['company_id']} {name}".strip()
        series[label][record["month_start"]] += record["amount"]
        periods[(label, record["month_start"])] = record["payroll_periods"] or ""
    figure = Figure(figsize=(11, 5.5), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, months in sorted(series.items()):
        dates = sorted(months)
        values = [float(months[d]) for d in dates]  # plotting only: the files keep the exact amounts
        axes.plot(dates, values, marker="o", markersize=3, label=label)
        for date, value in zip(dates, values, strict=True):
            if "," in periods[(label, date)]:
                axes.annotate(
                    periods[(label, date)],
                    (date, value),
                    textcoords="offset points",
                    xytext=(0, 6),
                    ha="center",
                    fontsize="x-small",
                )
    axes.set_title(f"Payroll company costs per month (P&L accounts), as of {as_of_text(moment)}")
    axes.set_ylabel("EUR")
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axes.grid(True, alpha=0.3)
    if all(value >= 0 for months in series.values() for value in months.values()):
        axes.set_ylim(bottom=0)
    if series:
        axes.legend(loc="best", fontsize="small")
    else:
        axes.text(0.5, 0.5, "no payroll costs for this selection", ha="center", transform=axes.transAxes)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, format="png")


SUMMARY_COLUMNS = (
    Column("company_id", "int"),
    Column("company_name", "text"),
    Column("erp_entity", "text"),
    Column("period_type", "text"),
    Column("first_month", "date"),
    Column("last_month", "date"),
    Column("company_costs", "decimal", MIN_SCALE),
    Column("balance_sheet_postings", "decimal", MIN_SCALE),
    Column("reconciliation_rows", "int"),
    Column("open_differences", "int"),
    Column("open_difference_absolute", "decimal", MIN_SCALE),
)


def summary_sheet(sheets: dict[str, Sheet], filters: Filters, moment: dt.datetime | None) -> Sheet:
    """Per company: the months covered, costs, balance-sheet postings and what is still open."""
    zero = Decimal("0.00")
    companies: dict[int, dict] = {}
    for record in _rows_as_records(sheets[DATA_TABLE.name]):
        company = companies.setdefault(
            record["company_id"],
            {
                "labels": (record["company_name"], record["erp_entity"], record["period_type"]),
                "months": set(),
                "costs": zero,
                "balance_sheet": zero,
                "rows": 0,
                "open": 0,
                "open_absolute": zero,
            },
        )
        company["months"].add(record["month_start"])
    for name, key in ((COMPANY_COSTS.name, "costs"), (BALANCE_SHEET_POSTINGS.name, "balance_sheet")):
        for record in _rows_as_records(sheets[name]):
            companies[record["company_id"]][key] += record["amount"]
    for record in _rows_as_records(sheets[RECONCILIATION.name]):
        company = companies.get(record["company_id"])
        if company is None:
            continue  # ERP movements of a company without payroll lines in the selection
        company["rows"] += 1
        if record["status"] != "matched":
            company["open"] += 1
            company["open_absolute"] += abs(record["difference"])
    rows = [
        (
            company_id,
            *company["labels"],
            min(company["months"]),
            max(company["months"]),
            company["costs"],
            company["balance_sheet"],
            company["rows"],
            company["open"],
            company["open_absolute"],
        )
        for company_id, company in sorted(companies.items())
    ]
    selection = (
        "companies " + ", ".join(map(str, filters.companies)) if filters.companies else "all companies"
    )
    selection += f", calendar year {filters.year}" if filters.year is not None else ", all years"
    preamble = (
        f"Payroll export: {selection}",
        f"As of {as_of_text(moment)} (when the payroll was last loaded from Nmbrs)",
        "Company costs are the P&L side of the payroll; balance-sheet postings are the amounts owed "
        "(wage tax, net pay). Open differences are listed on the sheet 'Work list', largest first.",
    )
    return Sheet("payroll_summary", "Summary", SUMMARY_COLUMNS, rows, preamble)


def export(
    conn,
    out_dir: Path,
    file_format: str,
    filters: Filters,
    csv_dialect: CsvDialect = CSV_DIALECTS["standard"],
) -> list[ExportedFile]:
    """Write the tables and the chart into out_dir (all or nothing)."""
    if file_format not in FORMATS:
        raise ExportError(f"unknown format {file_format!r}; use one of {', '.join(FORMATS)}")
    check_marts(conn)
    sheets = {query.name: fetch(conn, query, filters) for query in QUERIES}
    if not sheets[DATA_TABLE.name].rows:
        raise ExportError(_no_rows_message(conn, filters))
    moment = as_of(conn, filters)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".payroll-export-", dir=out_dir))
    try:
        written = []
        if file_format == "xlsx":
            summary = summary_sheet(sheets, filters, moment)
            ordered = [summary, *(sheets[q.name] for q in WORKBOOK_ORDER)]
            write_workbook(ordered, staging / WORKBOOK_FILE)
            written.append(
                ExportedFile(
                    out_dir / WORKBOOK_FILE, None, {}, "workbook: " + ", ".join(s.title for s in ordered)
                )
            )
        for query in WORKBOOK_ORDER if file_format == "xlsx" else QUERIES:
            sheet = sheets[query.name]
            sums = totals(sheet, query)
            if file_format == "xlsx":
                written.append(
                    ExportedFile(out_dir / WORKBOOK_FILE, len(sheet.rows), sums, sheet=sheet.title)
                )
                continue
            path = staging / f"{query.name}.{file_format}"
            if file_format == "csv":
                write_csv(sheet, path, csv_dialect)
            else:
                write_parquet(sheet, path)
            written.append(ExportedFile(out_dir / path.name, len(sheet.rows), sums))
        write_chart(sheets[COMPANY_COSTS.name], staging / CHART_FILE, moment)
        written.append(
            ExportedFile(
                out_dir / CHART_FILE, None, {}, f"chart of company costs (P&L), as of {as_of_text(moment)}"
            )
        )
        for path in dict.fromkeys(exported.path for exported in written):
            os.replace(staging / path.name, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def _no_rows_message(conn, filters: Filters) -> str:
    with conn.cursor() as cur:
        cur.execute(
            "select company_id, array_agg(distinct year order by year) "
            "from marts.payroll_data_table group by company_id order by company_id"
        )
        available = cur.fetchall()
    if not available:
        return "the marts hold no payroll lines yet: run `payroll sync` first"
    listing = "; ".join(f"company {cid}: {', '.join(map(str, years))}" for cid, years in available)
    wanted = []
    if filters.companies:
        wanted.append(f"company {', '.join(map(str, filters.companies))}")
    if filters.year is not None:
        wanted.append(f"year {filters.year}")
    return (
        f"no payroll lines for {' and '.join(wanted)}; the marts hold {listing}. Check --company and --year"
    )
