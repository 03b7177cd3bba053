"""`payroll db`: start, stop and show the embedded PostgreSQL (or the configured server); re-key a
warehouse made by a version that keyed on SOAP ids (`payroll db rekey`, docs/upgrading.md)."""

from __future__ import annotations

import click
import psycopg2

from pipelines.lib import embedded_db, settings, warehouse
from pipelines.lib import rekey as rekeying


@click.group(name="db", short_help="The warehouse database: start, stop, status, url, rekey.")
def command() -> None:
    """Start, stop and show the warehouse database (embedded PostgreSQL unless PAYROLL_DATABASE_URL is set);
    `rekey` upgrades a warehouse that an earlier version keyed on SOAP ids (docs/upgrading.md)."""


@command.command()
def start() -> None:
    """Start the embedded PostgreSQL, or reuse the running one, and print its URL."""
    if not settings.uses_embedded_database():
        click.echo("PAYROLL_DATABASE_URL is set; the embedded database is not used.")
        return
    state = embedded_db.start()
    click.echo(f"embedded PostgreSQL running (pid {state.pid}, data in {state.pgdata})")
    click.echo(f"PAYROLL_DATABASE_URL={state.url}")


@command.command()
def stop() -> None:
    """Stop the embedded PostgreSQL; no process is left behind."""
    if embedded_db.stop():
        click.echo("embedded PostgreSQL stopped")
    else:
        click.echo("embedded PostgreSQL was not running")


@command.command()
def status() -> None:
    """Show which database is in use and whether it answers."""
    if settings.uses_embedded_database():
        state = embedded_db.status()
        if not state.running:
            click.echo(
                f"embedded PostgreSQL: stopped (data in {state.pgdata}); start it with `payroll db start`"
            )
            raise SystemExit(1)
        url = state.url
        click.echo(f"embedded PostgreSQL: running (pid {state.pid}, data in {state.pgdata})")
    else:
        url = settings.database_url()
        click.echo("database: PAYROLL_DATABASE_URL")
    try:
        conn = psycopg2.connect(url, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        click.secho(f"cannot connect to {settings.redacted_url(url)}: {str(exc).strip()}", fg="red", err=True)
        raise SystemExit(1) from exc
    with conn, conn.cursor() as cur:
        cur.execute("show server_version")
        version = cur.fetchone()[0]
    conn.close()
    click.echo(f"url: {settings.redacted_url(url)}")
    click.echo(f"server version: {version}")


@command.command(name="url")
def url_cmd() -> None:
    """Print the database URL (starts the embedded server if needed), for psql or a BI tool."""
    click.echo(settings.database_url())


@command.command()
def rekey() -> None:
    """Re-key a warehouse loaded by an earlier version from SOAP ids to company and employee numbers.

    One transaction over every raw table (the old ids are kept in the soap_* columns), then the Dagster
    company partitions. Lists the mappings/*.csv lines to change. Running it again does nothing.
    """
    import dagster as dg

    from pipelines.defs.nmbrs import partitions

    database_url = settings.prepare_environment()["PAYROLL_DATABASE_URL"]
    conn = warehouse.connect(database_url)
    try:
        result = rekeying.rekey(conn)
        with conn.cursor() as cur:
            cur.execute("select company_id, soap_company_id from nmbrs.companies order by company_id")
            keys = cur.fetchall()
        conn.rollback()
    finally:
        conn.close()
    if result.nothing_to_do:
        click.echo("nothing to do: the warehouse is keyed on company and employee numbers already")
    else:
        click.echo("re-keyed the warehouse from SOAP ids to company and employee numbers (one transaction):")
        click.echo("  companies (SOAP id -> company number):")
        for company in result.companies:
            click.echo(f"    {company.old_id} -> {company.number}  {company.name or ''}".rstrip())
        click.echo(f"  employees: {result.employees} (SOAP employee id -> employee number)")
        click.echo("  rows re-keyed per table:")
        for table, rows in result.rows.items():
            click.echo(f"    {table}: {rows}")

    numbers = [number for number, _ in keys]
    with dg.DagsterInstance.get() as instance:
        added = partitions.register_companies(instance, numbers)
        deleted = partitions.retire_companies(
            instance, [old for _, old in keys if old is not None and old not in numbers]
        )
    if added or deleted:
        click.echo(
            f"Dagster company partitions: added {', '.join(added) or 'none'}; "
            f"deleted the SOAP-id keys {', '.join(deleted) or 'none'}"
        )
    if result.nothing_to_do:
        return

    lines = rekeying.stale_mapping_lines(result.companies, settings.MAPPINGS_DIR)
    if lines:
        click.echo("mappings/*.csv lines whose company_id is an old SOAP id (change them in a pull request):")
        for line in lines:
            where = line.path.relative_to(settings.MAPPINGS_DIR.parent)
            note = f" (careful: {line.old_id} is also another company's number)" if line.also_a_number else ""
            click.echo(f"  {where} line {line.line}: company_id {line.old_id} -> write {line.number}{note}")
    else:
        click.echo("mappings/*.csv: no company_id names an old SOAP id; nothing to change there")
    click.echo(
        "The marts still hold the old keys: run `payroll sync` next, which rebuilds them in full on the new keys."
    )
