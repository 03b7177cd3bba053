"""`payroll doctor`: is the Nmbrs connection Active? A table of checks, each failure with its fix."""

from __future__ import annotations

import textwrap

import click

from pipelines.app import demo
from pipelines.lib import settings
from pipelines.lib.nmbrs.config import NmbrsSettings
from pipelines.lib.nmbrs.doctor import run_checks


@click.command(name="doctor")
def command() -> None:
    """Check the Nmbrs connection: credentials, domain, the seven SOAP permissions (each probed once;
    two report tasks are started), the REST token and subscription key, and the warehouse.

    Prints "Active" and exits 0 when everything works; otherwise names each problem with its fix
    and exits 1.
    """
    database_url = settings.prepare_environment()["PAYROLL_DATABASE_URL"]
    with demo.demo_sandbox_if_needed(echo=click.echo):
        # Read inside the block: in demo mode, the port the sandbox serves on.
        checks = run_checks(NmbrsSettings.from_env(), database_url)
    for check in checks:
        if check.ok:
            click.echo(f"{click.style('ok  ', fg='green')}  {check.name}: {check.detail}")
            continue
        click.echo(f"{click.style('FAIL', fg='red')}  {check.name}")
        for line in textwrap.wrap(check.detail, 100):
            click.echo(f"      {line}")
    failed = [check for check in checks if not check.ok]
    if failed:
        click.secho(f"Not active: {len(failed)} problem(s) above.", fg="red", bold=True)
        raise SystemExit(1)
    click.secho("Active", fg="green", bold=True)
