"""`payroll export`: the marts as flat files or one workbook for pivot tables, plus the company-costs chart."""

from __future__ import annotations

from pathlib import Path

import click
import psycopg2

from pipelines.lib import export, settings
from pipelines.lib.spreadsheet import CSV_DIALECTS


@click.command(name="export")
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
    required=True,
    help="Folder to write into (created if missing; files of the same name are replaced).",
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
def command(
    file_format: str, out_dir: Path, companies: tuple[int, ...], year: int | None, csv_dialect: str
) -> None:
    """Export the marts for pivot tables, and a PNG of company costs per month.

    Tables: payroll_data_table (one row per company, month, GL account and wage component, every
    label spelled out), payroll_company_costs_monthly (P&L), payroll_balance_sheet_postings_monthly
    (BS), payroll_gl_reconciliation and payroll_reconciliation_work_list (open differences, largest
    first). CSV and Parquet write a file per table; XLSX writes payroll_export.xlsx with a Summary
    sheet and a sheet (an Excel Table) per table. Amounts are exact decimals; `amount` is signed as
    booked (debit positive). Text that a spreadsheet would run as a formula is written as text.
    """
    if csv_dialect != "standard" and file_format != "csv":
        raise click.UsageError(f"--csv-dialect {csv_dialect} applies to --format csv only")
    url = settings.database_url()
    try:
        conn = psycopg2.connect(url, connect_timeout=10, application_name="payroll export")
    except psycopg2.OperationalError as exc:
        parts = settings.dsn_parts(url)
        raise click.ClickException(
            f"cannot connect to the warehouse at {parts.host}:{parts.port}/{parts.dbname}: {str(exc).strip()}"
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
