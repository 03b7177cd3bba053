"""`payroll db`: start, stop and show the embedded PostgreSQL (or the configured server)."""

from __future__ import annotations

import click
import psycopg2

from pipelines.lib import embedded_db, settings


@click.group(name="db")
def command() -> None:
    """Start, stop and show the warehouse database (embedded PostgreSQL unless PAYROLL_DATABASE_URL is set)."""


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
