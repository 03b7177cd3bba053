"""`payroll mapping check|suggest`: keep the wage-component → GL account mapping complete and valid."""

from __future__ import annotations

from pathlib import Path

import click
import psycopg2

from pipelines.app import demo
from pipelines.lib import embedded_db, settings
from pipelines.lib.mapping import checks, csvfile, files, journals, sources, suggest
from pipelines.lib.nmbrs.config import NmbrsSettings

MAPPINGS_DIR_OPTION = click.option(
    "--mappings-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=settings.MAPPINGS_DIR,
    show_default="mappings/",
    help="Folder holding wage_component_gl_mapping.csv and company_entity_mapping.csv.",
)


def _warehouse_url() -> str | None:
    """The configured warehouse, or the embedded one if it is running (never started just for a check)."""
    if not settings.uses_embedded_database():
        return settings.database_url()
    status = embedded_db.status()
    return status.url if status.running else None


def _connect(url: str):
    return psycopg2.connect(url, connect_timeout=5, application_name="payroll mapping")


def _reference(source: str, erp_chart: Path | None) -> sources.Reference:
    """Chart and synced components from the warehouse where available, else the chart file."""
    chart = seen = None
    chart_source = seen_source = None
    notes: list[csvfile.Problem] = []
    url = None if source == "files" else _warehouse_url()
    shown = settings.redacted_url(url) if url else None
    if url is None and source == "warehouse":
        raise click.ClickException(
            "no warehouse is configured or running: set PAYROLL_DATABASE_URL or run `payroll db start`"
        )
    if url is not None:
        try:
            conn = _connect(url)
        except psycopg2.OperationalError as exc:
            if source == "warehouse":
                raise click.ClickException(
                    f"cannot connect to the warehouse at {shown}: {str(exc).strip()}"
                ) from exc
            click.secho(
                f"note: the warehouse at {shown} did not answer; checking against files only",
                fg="yellow",
            )
        else:
            try:
                if erp_chart is None:
                    chart = sources.warehouse_chart(conn)
                    chart_source = f"erp.chart_of_accounts in {shown}" if chart else None
                seen = sources.warehouse_components(conn)
                seen_source = f"nmbrs.wage_components and nmbrs.payslips in {shown}" if seen else None
            finally:
                conn.close()
            if source == "warehouse" and seen is None:
                raise click.ClickException(
                    f"the warehouse at {shown} holds no synced wage components: run `payroll sync` first"
                )
    if chart is None:
        # Against the sandbox without PAYROLL_ERP_DIR, its demo ERP chart is the reference.
        demo_erp = erp_chart is None and demo.use_sandbox_erp_files(NmbrsSettings.from_env()) is not None
        chart, chart_source, notes = sources.chart_file_reference(erp_chart, demo_erp)
    return sources.Reference(chart, chart_source, seen, seen_source, tuple(notes))


def _print_against(reference: sources.Reference) -> None:
    if reference.chart is not None:
        click.echo(f"ERP chart:       {reference.chart_source} ({len(reference.chart)} accounts)")
    else:
        click.echo("ERP chart:       none found (accounts and statements not checked)")
    if reference.seen is not None:
        pairs = len(reference.seen)
        companies = len({c.company_id for c in reference.seen})
        click.echo(
            f"Synced data:     {reference.seen_source} ({pairs} wage components in {companies} companies)"
        )
    else:
        click.echo(
            "Synced data:     none (unmapped wage components not checked; run `payroll sync`, then check again)"
        )


def _print_unmapped(result: checks.CheckResult) -> None:
    rows = [(str(c.company_id), c.company_name, c.code, c.description, c.first_seen) for c in result.unmapped]
    header = ("company", "name", "code", "description", "first period seen")
    widths = [max(len(v) for v in column) for column in zip(header, *rows, strict=True)]
    for values in (header, *rows):
        click.echo("    " + "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip())
    click.echo(
        f"    fix: `payroll mapping suggest` appends them to {result.mapping_file}; "
        "then fill in statement, gl_account and sign (or set hidden to true)"
    )


def _print_journal_disagreements(mappings_dir: Path, source: str) -> None:
    """Warn (without failing) where the CSV posts a component elsewhere than Nmbrs's journals book it."""
    url = None if source == "files" else _warehouse_url()
    if url is None:
        return
    try:
        conn = _connect(url)
    except psycopg2.OperationalError:
        return
    try:
        bookings = journals.warehouse_bookings(conn)
    finally:
        conn.close()
    if bookings is None:
        click.echo("-     Nmbrs's journals: none synced (REST), so the CSV is not compared with them")
        return
    table, _ = csvfile.read_csv_table(mappings_dir / files.MAPPING_FILE, files.MAPPING_COLUMNS)
    if table is None:
        return
    rows, _ = files.parse_mapping(table)
    found = journals.disagreements(rows, bookings)
    if not found:
        click.echo("ok    The CSV books every component where Nmbrs's journals do")
        return
    click.secho(f"WARN  Where the CSV disagrees with Nmbrs's journals ({len(found)})", fg="yellow")
    for disagreement in found:
        click.echo(f"    {disagreement}")
    click.echo(
        "    fix: correct mappings/wage_component_gl_mapping.csv or the ledger set-up in Nmbrs "
        "(marts.payroll_three_way_reconciliation shows the months: mapping_differs_from_nmbrs)"
    )


@click.group(name="mapping")
def command() -> None:
    """Check and complete the wage-component → GL account mapping in mappings/."""


@command.command(name="check")
@MAPPINGS_DIR_OPTION
@click.option(
    "--erp-chart",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="ERP chart of accounts CSV (account,name,statement) to check against instead of the warehouse's "
    "erp.chart_of_accounts. Default when no warehouse data: $PAYROLL_ERP_DIR/chart_of_accounts.csv.",
)
@click.option(
    "--source",
    type=click.Choice(["auto", "warehouse", "files"]),
    default="auto",
    show_default=True,
    help="Where the chart and the synced wage components come from: the warehouse when it has them "
    "(auto), the warehouse or fail (warehouse), or only the files (files).",
)
def check_command(mappings_dir: Path, erp_chart: Path | None, source: str) -> None:
    """Report everything wrong with the mapping; exits 1 on any problem (for CI).

    Checks the CSV format (file, line and column of each problem), duplicate keys, unknown
    statements, accounts missing from the ERP chart, statements contradicting the account, and the
    wage components in the synced data that have no mapping row.
    """
    reference = _reference(source, erp_chart)
    result = checks.check(mappings_dir, reference)
    click.echo(f"Mapping files:   {result.mapping_file} ({result.rows} rows), {result.entity_file}")
    _print_against(reference)
    click.echo("")
    for kind, problems in result.by_kind().items():
        if kind in (csvfile.UNMAPPED, csvfile.NO_ENTITY) and reference.seen is None:
            continue
        title = csvfile.KIND_TITLES[kind]
        if not problems:
            click.echo(f"ok    {title}")
            continue
        click.secho(f"FAIL  {title} ({len(problems)})", fg="red")
        if kind == csvfile.UNMAPPED:
            _print_unmapped(result)
        else:
            for problem in problems:
                click.echo(f"    {problem}")
    _print_journal_disagreements(mappings_dir, source)
    click.echo("")
    if result.ok:
        click.secho("The mapping is complete and consistent.", fg="green")
        return
    click.secho(
        f"{len(result.problems)} problem(s): fix them and run `payroll mapping check` again.", fg="red"
    )
    raise SystemExit(1)


@command.command(name="suggest")
@MAPPINGS_DIR_OPTION
@click.option(
    "--from-journals",
    is_flag=True,
    help="Fill in statement, GL account and sign as Nmbrs's own journals book each component, with the "
    "evidence (matching description, equal amounts over N runs); ambiguous ones are marked.",
)
def suggest_command(mappings_dir: Path, from_journals: bool) -> None:
    """Append every synced wage component that has no mapping row, with an empty account to fill in
    (or, with --from-journals, the account Nmbrs's journals book it on).

    Only appends: the existing lines stay byte for byte as they are, so the pull request shows just
    the new rows. Needs the synced data in the warehouse (`payroll sync`).
    """
    url = _warehouse_url()
    if url is None:
        raise click.ClickException("no warehouse is configured or running: run `payroll sync` first")
    shown = settings.redacted_url(url)
    try:
        conn = _connect(url)
    except psycopg2.OperationalError as exc:
        raise click.ClickException(f"cannot connect to the warehouse at {shown}: {str(exc).strip()}") from exc
    bookings = chart = None
    try:
        seen = sources.warehouse_components(conn)
        if from_journals:
            bookings = journals.warehouse_bookings(conn)
            chart = sources.warehouse_chart(conn)
    finally:
        conn.close()
    if seen is None:
        raise click.ClickException(
            f"the warehouse at {shown} holds no synced wage components: run `payroll sync` first"
        )
    if from_journals and bookings is None:
        raise click.ClickException(
            f"the warehouse at {shown} holds no Nmbrs journals: they come from the REST API "
            "(NMBRS_SOURCE_MODE rest+soap); run `payroll sync` with REST connected first"
        )
    try:
        file, added, lines = suggest.suggest(mappings_dir, seen, bookings, chart)
    except csvfile.MappingFileError as exc:
        raise click.ClickException(f"cannot append to the mapping file; fix these first:\n{exc}") from exc
    if not added:
        click.echo(f"Every synced wage component already has a row in {file}; nothing appended.")
        return
    click.echo(f"Appended {len(added)} row(s) to {file}:")
    for line, suggestion in zip(lines, added, strict=True):
        scope = f"company {suggestion.company_id}" if suggestion.company_id is not None else "all companies"
        click.echo(f"    line {line}: {scope}, code {suggestion.code} {suggestion.description!r}")
        if suggestion.gl_account:
            side = "debit" if (suggestion.sign or 0) > 0 else "credit"
            flag = "AMBIGUOUS " if suggestion.ambiguous else ""
            click.echo(
                f"        {flag}-> {suggestion.statement} {suggestion.gl_account} {side}: {suggestion.evidence}"
            )
        elif suggestion.evidence:
            click.echo(f"        {suggestion.evidence}")
    if from_journals:
        click.echo(
            "Review each proposed row (above all the AMBIGUOUS ones), then run `payroll mapping check`."
        )
        return
    click.echo(
        "Fill in statement, gl_account and sign (or set hidden to true), then run `payroll mapping check`."
    )
