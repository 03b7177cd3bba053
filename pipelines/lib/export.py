"""Flat "data table" exports of the marts for spreadsheets and notebooks, and the company-costs chart.

Amounts stay exact all the way: numeric → Decimal → a plain decimal in CSV, a numeric cell with a
number format in XLSX, decimal128 in Parquet. Files are written to a temporary folder first and
moved into place at the end, so a failed export leaves the previous files as they were.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from psycopg2 import sql

FORMATS = ("csv", "xlsx", "parquet")
CHART_FILE = "payroll_company_costs.png"
REQUIRED_MARTS = (
    "marts.fct_payroll_lines",
    "marts.dim_companies",
    "marts.payroll_company_costs_monthly",
    "marts.payroll_gl_reconciliation",
)
MIN_SCALE = 2  # money: at least cents, more if the data has more

# psycopg2 type codes (PostgreSQL OIDs) → the kind of column written
KINDS = {16: "bool", 20: "int", 21: "int", 23: "int", 25: "text", 1043: "text", 1082: "date", 1700: "decimal"}


class ExportError(RuntimeError):
    """The export cannot run; the message says why and what to do."""


@dataclass(frozen=True)
class ExportQuery:
    name: str  # file stem and sheet title
    title: str
    sql: str  # a SELECT with `{filters}` where company and year filters go
    company_column: str
    year_column: str


DATA_TABLE = ExportQuery(
    name="payroll_data_table",
    title="Payroll data table",
    sql="""
select
    lines.company_id,
    companies.company_name,
    companies.erp_entity,
    companies.period_type,
    lines.calendar_year as year,
    lines.calendar_month as month,
    make_date(lines.calendar_year, lines.calendar_month, 1) as month_start,
    string_agg(distinct lines.year::text || '-' || lpad(lines.period::text, 2, '0'), ', ') as payroll_periods,
    lines.statement,
    lines.gl_account,
    max(lines.gl_account_name) as gl_account_name,
    lines.wage_component_code,
    max(lines.wage_component_description) as wage_component_description,
    lines.mapping_scope,
    lines.sign,
    string_agg(distinct lines.coverage, ', ') as coverage,
    count(distinct lines.employee_id) as employee_count,
    sum(lines.amount) as nmbrs_amount,
    sum(lines.signed_amount) as amount
from marts.fct_payroll_lines as lines
left join marts.dim_companies as companies on companies.company_id = lines.company_id
where not lines.is_hidden {filters}
group by
    lines.company_id, companies.company_name, companies.erp_entity, companies.period_type,
    lines.calendar_year, lines.calendar_month, lines.statement, lines.gl_account,
    lines.wage_component_code, lines.mapping_scope, lines.sign
order by lines.company_id, year, month, lines.statement desc, lines.gl_account, lines.wage_component_code
""",
    company_column="lines.company_id",
    year_column="lines.calendar_year",
)

COMPANY_COSTS = ExportQuery(
    name="payroll_company_costs_monthly",
    title="Company costs per month",
    sql="""
select
    costs.company_id,
    costs.company_name,
    costs.erp_entity,
    companies.period_type,
    costs.year,
    costs.month,
    costs.month_start,
    costs.statement,
    costs.gl_account,
    costs.gl_account_name,
    costs.employee_count,
    costs.amount
from marts.payroll_company_costs_monthly as costs
left join marts.dim_companies as companies on companies.company_id = costs.company_id
where true {filters}
order by costs.company_id, costs.year, costs.month, costs.statement desc, costs.gl_account
""",
    company_column="costs.company_id",
    year_column="costs.year",
)

RECONCILIATION = ExportQuery(
    name="payroll_gl_reconciliation",
    title="Payroll vs ERP reconciliation",
    sql="""
select
    recon.company_id,
    recon.company_name,
    recon.erp_entity,
    companies.period_type,
    recon.year,
    recon.month,
    make_date(recon.year, recon.month, 1) as month_start,
    recon.statement,
    recon.gl_account,
    recon.gl_account_name,
    recon.payroll_amount,
    recon.erp_amount,
    recon.difference,
    recon.status
from marts.payroll_gl_reconciliation as recon
left join marts.dim_companies as companies on companies.company_id = recon.company_id
where true {filters}
order by recon.company_id, recon.year, recon.month, recon.statement desc, recon.gl_account
""",
    company_column="recon.company_id",
    year_column="recon.year",
)

QUERIES = (DATA_TABLE, COMPANY_COSTS, RECONCILIATION)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # int | text | decimal | date | bool
    scale: int | None = None  # decimals: digits after the point, uniform over the column


@dataclass(frozen=True)
class Table:
    query: ExportQuery
    columns: tuple[Column, ...]
    rows: list[tuple]

    def total(self, column: str) -> Decimal:
        position = [c.name for c in self.columns].index(column)
        return sum((row[position] for row in self.rows if row[position] is not None), Decimal(0))


@dataclass(frozen=True)
class ExportedFile:
    path: Path
    rows: int | None  # None for the chart
    totals: dict[str, Decimal]


@dataclass(frozen=True)
class Filters:
    companies: tuple[int, ...] = ()
    year: int | None = None


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


def fetch(conn, query: ExportQuery, filters: Filters) -> Table:
    conditions = []
    params: dict[str, object] = {}
    if filters.companies:
        conditions.append(sql.SQL(" and {} = any(%(companies)s)").format(sql.SQL(query.company_column)))
        params["companies"] = list(filters.companies)
    if filters.year is not None:
        conditions.append(sql.SQL(" and {} = %(year)s").format(sql.SQL(query.year_column)))
        params["year"] = filters.year
    statement = sql.SQL(query.sql).format(filters=sql.Composed(conditions))
    with conn.cursor() as cur:
        cur.execute(statement, params)
        rows = cur.fetchall()
        described = [(d.name, KINDS.get(d.type_code, "text")) for d in cur.description]
    columns = tuple(
        Column(name, kind, _scale(rows, position) if kind == "decimal" else None)
        for position, (name, kind) in enumerate(described)
    )
    return Table(query, columns, [_normalized(row, columns) for row in rows])


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


def _text(value, column: Column) -> str:
    if value is None:
        return ""
    if column.kind == "decimal":
        return format(value, "f")
    if column.kind == "date":
        return value.isoformat()
    if column.kind == "bool":
        return "true" if value else "false"
    return str(value)


def write_csv(table: Table, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([c.name for c in table.columns])
        for row in table.rows:
            writer.writerow([_text(v, c) for v, c in zip(row, table.columns, strict=True)])


def _number_format(column: Column) -> str | None:
    if column.kind == "decimal":
        return "#,##0." + "0" * column.scale
    if column.kind == "int":
        return "0"
    if column.kind == "date":
        return "yyyy-mm-dd"
    return None


def write_xlsx(table: Table, path: Path) -> None:
    """One sheet: bold frozen header, autofilter, widths that fit, typed cells with number formats."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(table.query.title[:31])
    sheet.freeze_panes = "A2"
    last_column = get_column_letter(len(table.columns))
    sheet.auto_filter.ref = f"A1:{last_column}{len(table.rows) + 1}"
    for position, column in enumerate(table.columns, start=1):
        longest = max([len(column.name), *(len(_text(row[position - 1], column)) for row in table.rows)])
        sheet.column_dimensions[get_column_letter(position)].width = min(longest + 3, 60)
    bold = Font(bold=True)
    header = []
    for column in table.columns:
        cell = WriteOnlyCell(sheet, value=column.name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    formats = [_number_format(c) for c in table.columns]
    for row in table.rows:
        cells = []
        for value, number_format in zip(row, formats, strict=True):
            cell = WriteOnlyCell(sheet, value=value)
            if number_format and value is not None:
                cell.number_format = number_format
            cells.append(cell)
        sheet.append(cells)
    workbook.save(path)


def _arrow_type(column: Column):
    import pyarrow as pa

    return {
        "int": pa.int64(),
        "text": pa.string(),
        "date": pa.date32(),
        "bool": pa.bool_(),
    }.get(column.kind) or pa.decimal128(38, column.scale)


def write_parquet(table: Table, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = [
        pa.array([row[position] for row in table.rows], type=_arrow_type(column))
        for position, column in enumerate(table.columns)
    ]
    schema = pa.schema([pa.field(c.name, _arrow_type(c)) for c in table.columns])
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)


WRITERS = {"csv": write_csv, "xlsx": write_xlsx, "parquet": write_parquet}


def write_chart(costs: Table, path: Path) -> None:
    """Company costs (P&L accounts) per month, one line per company."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    names = [c.name for c in costs.columns]
    series: dict[str, dict[dt.date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in costs.rows:
        record = dict(zip(names, row, strict=True))
        if record["statement"] == "PL":
            label = f"{record['company_id']} {record['company_name'] or ''}".strip()
            series[label][record["month_start"]] += record["amount"]
    figure = Figure(figsize=(11, 5.5), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, months in sorted(series.items()):
        dates = sorted(months)
        axes.plot(dates, [float(months[d]) for d in dates], marker="o", markersize=3, label=label)
    axes.set_title("Payroll company costs per month (P&L accounts)")
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


AMOUNT_COLUMNS = {
    DATA_TABLE.name: ("nmbrs_amount", "amount"),
    COMPANY_COSTS.name: ("amount",),
    RECONCILIATION.name: ("payroll_amount", "erp_amount", "difference"),
}


def export(conn, out_dir: Path, file_format: str, filters: Filters) -> list[ExportedFile]:
    """Write the data table, company costs, reconciliation and the chart into out_dir (all or nothing)."""
    if file_format not in WRITERS:
        raise ExportError(f"unknown format {file_format!r}; use one of {', '.join(FORMATS)}")
    check_marts(conn)
    tables = [fetch(conn, query, filters) for query in QUERIES]
    if not tables[0].rows:
        raise ExportError(_no_rows_message(conn, filters))
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".payroll-export-", dir=out_dir))
    try:
        written = []
        for table in tables:
            path = staging / f"{table.query.name}.{file_format}"
            WRITERS[file_format](table, path)
            totals = {column: table.total(column) for column in AMOUNT_COLUMNS[table.query.name]}
            written.append(ExportedFile(out_dir / path.name, len(table.rows), totals))
        write_chart(tables[1], staging / CHART_FILE)
        written.append(ExportedFile(out_dir / CHART_FILE, None, {}))
        for exported in written:
            os.replace(staging / exported.path.name, exported.path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def _no_rows_message(conn, filters: Filters) -> str:
    with conn.cursor() as cur:
        cur.execute(
            "select company_id, array_agg(distinct calendar_year order by calendar_year) "
            "from marts.fct_payroll_lines group by company_id order by company_id"
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
