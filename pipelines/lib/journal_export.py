"""`payroll export journal`: balanced journal entries from our mapping, for an ERP that does not
receive Nmbrs's own journal (docs/reconciliation.md).

One entry line per ERP entity × company × GL account (× cost centre): the payroll of one run
(`--run`, its payslip lines, dated the day of the run) or of one booking month (`--month`, the
per-period report in the month holding each period's end date, dated the month's last day), posted by
mappings/wage_component_gl_mapping.csv (debit positive). A month's P&L lines are split by cost centre
as marts.payroll_costs_by_cost_centre_monthly splits them (Nmbrs's cost-centre journal, or where none
the employees' cost-centre history, exact to the cent); balance-sheet lines and a run's lines carry no cost centre. Debit must equal credit per entity and date
before anything is written; the CSV and the XLSX are written to a temporary name and moved into
place together, so a refused export leaves earlier files as they were.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pipelines.lib.spreadsheet import Column, Sheet, write_csv, write_workbook

COLUMNS = (
    Column("date", "date"),
    Column("entity", "text"),
    Column("company_id", "int"),
    Column("account", "text"),
    Column("account_name", "text"),
    Column("debit", "decimal", 2),
    Column("credit", "decimal", 2),
    Column("cost_centre", "text"),
    Column("description", "text"),
)
ZERO = Decimal("0.00")
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")


class JournalExportError(RuntimeError):
    """The journal cannot be exported; the message says why and what to do."""


@dataclass(frozen=True)
class JournalExport:
    csv_path: Path
    xlsx_path: Path
    lines: int
    debit: Decimal
    credit: Decimal


def parse_month(text: str) -> tuple[int, int]:
    match = _MONTH.fullmatch(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise JournalExportError(f"--month {text!r} is not a month such as 2025-09 (year-month)")
    return int(match.group(1)), int(match.group(2))


_RUN_SQL = """
select runs.run_at::date, companies.erp_entity, lines.company_id, mappings.gl_account,
       max(chart.gl_account_name), sum(lines.amount * mappings.sign),
       'Payroll run ' || lines.run_number || ' (' || max(runs.run_description) || '), '
           || max(companies.company_name),
       null::text
from marts.fct_payslip_lines as lines
join marts.dim_companies as companies on companies.company_id = lines.company_id
join staging.stg_nmbrs__payroll_runs as runs
    on runs.company_id = lines.company_id and runs.year = lines.year and runs.run_number = lines.run_number
join intermediate.int_wage_component_mappings_resolved as mappings
    on mappings.company_id = lines.company_id and mappings.wage_component_code = lines.wage_component_code
    and not mappings.is_hidden
left join staging.stg_erp__chart_of_accounts as chart on chart.gl_account = mappings.gl_account
where lines.run_id = %(run)s {companies}
group by 1, 2, 3, 4, lines.run_number
order by 2, 3, 4
"""

_MONTH_SQL = """
with lines as (
    select lines.calendar_year, lines.calendar_month, lines.company_id, lines.gl_account,
           lines.gl_account_name, lines.period_label, lines.signed_amount, null::text as cost_centre
    from marts.fct_payroll_lines as lines
    where not lines.is_hidden and lines.statement <> 'PL'
    union all
    select costs.year, costs.month, costs.company_id, costs.gl_account, costs.gl_account_name, null,
           costs.amount, costs.cost_centre
    from marts.payroll_costs_by_cost_centre_monthly as costs
),
labels as (
    select company_id, string_agg(distinct period_label, ', ' order by period_label) as periods
    from marts.fct_payroll_lines
    where calendar_year = %(year)s and calendar_month = %(month)s
    group by company_id
)
select (make_date(lines.calendar_year, lines.calendar_month, 1) + interval '1 month' - interval '1 day')::date,
       companies.erp_entity, lines.company_id, lines.gl_account, max(lines.gl_account_name),
       sum(lines.signed_amount),
       'Payroll ' || max(labels.periods) || ', ' || max(companies.company_name),
       lines.cost_centre
from lines
join marts.dim_companies as companies on companies.company_id = lines.company_id
left join labels on labels.company_id = lines.company_id
where lines.calendar_year = %(year)s and lines.calendar_month = %(month)s {companies}
group by 1, 2, 3, 4, lines.cost_centre
order by 2, 3, 4, lines.cost_centre nulls first
"""


def entries(
    conn, *, run: str | None, month: tuple[int, int] | None, companies: tuple[int, ...] = ()
) -> Sheet:
    """The entry lines of one run or one month, checked balanced per entity and date."""
    if (run is None) == (month is None):
        raise JournalExportError("give exactly one of --run RUN_ID or --month YYYY-MM")
    params: dict[str, object] = {"companies": list(companies)}
    filter_sql = "and lines.company_id = any(%(companies)s)" if companies else ""
    if run is not None:
        query, params["run"] = _RUN_SQL, run
        what = f"run {run}"
    else:
        query, (params["year"], params["month"]) = _MONTH_SQL, month
        what = f"month {month[0]}-{month[1]:02d}"
    with conn.cursor() as cur:
        cur.execute(query.format(companies=filter_sql), params)
        found = cur.fetchall()
    conn.rollback()
    if not found:
        raise JournalExportError(
            f"no payroll lines for {what}"
            + (f" of company {', '.join(map(str, companies))}" if companies else "")
            + ". Fix: check the run id (nmbrs.payroll_runs.run_id) or the month, and run `payroll sync` first"
        )
    rows = []
    for date, entity, company_id, account, name, amount, description, cost_centre in found:
        if amount == 0:
            continue
        if entity is None:
            raise JournalExportError(
                f"company {company_id} has no ERP entity. Fix: add it to mappings/company_entity_mapping.csv"
            )
        debit, credit = (amount, ZERO) if amount > 0 else (ZERO, -amount)
        rows.append((date, entity, company_id, account, name, debit, credit, cost_centre, description))
    _check_balanced(rows, what)
    return Sheet("payroll_journal_entries", "Journal entries", COLUMNS, rows)


def _check_balanced(rows: list[tuple], what: str) -> None:
    totals: dict[tuple[dt.date, str], Decimal] = {}
    for date, entity, _, _, _, debit, credit, _, _ in rows:
        totals[(date, entity)] = totals.get((date, entity), ZERO) + debit - credit
    off = {key: value for key, value in totals.items() if value != 0}
    if off:
        listed = "; ".join(
            f"{entity} {date}: debit - credit = {value:,.2f}" for (date, entity), value in sorted(off.items())
        )
        raise JournalExportError(
            f"the journal entries of {what} do not balance ({listed}), so nothing was written. Fix: every "
            "wage component must post both sides; run `payroll mapping check` and correct "
            "mappings/wage_component_gl_mapping.csv"
        )


def write(sheet: Sheet, out_dir: Path, stem: str) -> JournalExport:
    """Write `<stem>.csv` and `<stem>.xlsx` into out_dir, both or neither."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".payroll-journal-", dir=out_dir))
    try:
        write_csv(sheet, staging / f"{stem}.csv")
        write_workbook([sheet], staging / f"{stem}.xlsx")
        for suffix in (".csv", ".xlsx"):
            os.replace(staging / f"{stem}{suffix}", out_dir / f"{stem}{suffix}")
    finally:
        for leftover in staging.iterdir():
            leftover.unlink()
        staging.rmdir()
    debit = sum((row[5] for row in sheet.rows), ZERO)
    credit = sum((row[6] for row in sheet.rows), ZERO)
    return JournalExport(out_dir / f"{stem}.csv", out_dir / f"{stem}.xlsx", len(sheet.rows), debit, credit)


def file_stem(run: str | None, month: tuple[int, int] | None) -> str:
    if run is not None:
        return "journal_run_" + re.sub(r"[^A-Za-z0-9-]", "_", run)
    assert month is not None
    return f"journal_{month[0]}-{month[1]:02d}"
