"""`payroll export`: the marts as flat files or one workbook for pivot tables, plus the company-costs
chart; `payroll export journal`: balanced journal entries from our mapping for the ERP."""

from __future__ import annotations

from pathlib import Path

import click
import psycopg2

from pipelines.lib import export, journal_export, settings
from pipelines.lib.spreadsheet import CSV_DIALECTS


@click.group(name="export", invoke_without_command=True)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(export.FORMATS),
    default="xlsx",
    show_default=True,
    help="File type of the tables.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to write into (created if missing; files of the same name are replaced). Required.",
)
@click.option(
    "--company", "companies", type=int, multiple=True, help="Only this Nmbrs company id (repeatable)."
)
@click.option("--year", type=int, help="Only this calendar year (of the month the payroll is booked in).")
@click.option(
    "--csv-dialect",
    type=click.Choice(list(CSV_DIALECTS)),
    default="standard",
    show_default=True,
    help="CSV only. "
    + "; ".join(f"{dialect.name}: {dialect.help}" for dialect in CSV_DIALECTS.values())
    + ".",
)
@click.pass_context
def command(
    ctx: click.Context,
    file_format: str,
    out_dir: Path | None,
    companies: tuple[int, ...],
    year: int | None,
    csv_dialect: str,
) -> None:
    """Export the marts for pivot tables, and a PNG of company costs per month.

    Tables: payroll_data_table (one row per company, month, GL account and wage component, every
    label spelled out), payroll_company_costs_monthly (P&L), payroll_balance_sheet_postings_monthly
    (BS), payroll_gl_reconciliation and payroll_reconciliation_work_list (open differences, largest
    first). CSV and Parquet write a file per table; XLSX writes payroll_export.xlsx with a Summary
    sheet and a sheet (an Excel Table) per table. Amounts are exact decimals; `amount` is signed as
    booked (debit positive). Text that a spreadsheet would run as a formula is written as text.
    Also written: payroll_three_way_reconciliation (payroll, Nmbrs's journal, ERP per entity).

    `payroll export journal --help`: balanced journal entries from our mapping, for the ERP.
    """
    if ctx.invoked_subcommand is not None:
        return
    if out_dir is None:
        raise click.UsageError("Missing option '--out'.")
    if csv_dialect != "standard" and file_format != "csv":
        raise click.UsageError(f"--csv-dialect {csv_dialect} applies to --format csv only")
    url = settings.database_url()
    try:
        conn = psycopg2.connect(url, connect_timeout=10, application_name="payroll export")
    except psycopg2.OperationalError as exc:
        raise click.ClickException(
            f"cannot connect to the warehouse at {settings.redacted_url(url)}: {str(exc).strip()}"
        ) from exc
    try:
        with conn:
            written = export.export(
                conn, out_dir, file_format, export.Filters(companies, year), CSV_DIALECTS[csv_dialect]
            )
    except export.ExportError as exc:
        raise click.ClickException(f"export failed: {exc}") from exc
    finally:
        conn.close()
    click.echo(f"Exported to {out_dir}:")
    for exported in written:
        totals = ", ".join(f"{name} {value:,.2f}" for name, value in exported.totals.items())
        if exported.rows is None:
            detail = exported.detail
        else:
            detail = f"{exported.rows} rows" + (f"; totals: {totals}" if totals else "")
        name = f"  sheet {exported.sheet}" if exported.sheet else exported.path.name
        click.echo(f"    {name:<40} {detail}")


@command.command(name="journal")
@click.option(
    "--run", "run_id", help="The payroll run (its run_id in nmbrs.payroll_runs / marts.fct_payslip_lines)."
)
@click.option("--month", help="The booking month, e.g. 2025-09 (every period whose end date falls in it).")
@click.option(
    "--company", "companies", type=int, multiple=True, help="Only this Nmbrs company id (repeatable)."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder to write journal_<run or month>.csv and .xlsx into.",
)
def journal(run_id: str | None, month: str | None, companies: tuple[int, ...], out_dir: Path) -> None:
    """Balanced journal entries from our mapping (date, entity, account, debit, credit, cost centre,
    description), as CSV and XLSX, for an ERP that does not receive Nmbrs's own journal.

    Give --run (one payroll run, dated the day of the run) or --month (dated the month's last day).
    Debit must equal credit for every entity and date, or nothing is written.
    """
    try:
        parsed = journal_export.parse_month(month) if month is not None else None
        url = settings.database_url()
        try:
            conn = psycopg2.connect(url, connect_timeout=10, application_name="payroll export journal")
        except psycopg2.OperationalError as exc:
            raise click.ClickException(
                f"cannot connect to the warehouse at {settings.redacted_url(url)}: {str(exc).strip()}"
            ) from exc
        try:
            sheet = journal_export.entries(conn, run=run_id, month=parsed, companies=companies)
        finally:
            conn.close()
        written = journal_export.write(sheet, out_dir, journal_export.file_stem(run_id, parsed))
    except journal_export.JournalExportError as exc:
        raise click.ClickException(f"journal export failed: {exc}") from exc
    click.echo(
        f"Journal entries: {written.lines} lines, debit {written.debit:,.2f} = credit {written.credit:,.2f}"
    )
    click.echo(f"    {written.csv_path}")
    click.echo(f"    {written.xlsx_path}")
