"""`payroll status`: the state of the whole pipeline on one screen, with an exit code for monitoring."""

from __future__ import annotations

import json
import sys

import click

from pipelines.lib import status_report


@click.command(name="status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON document.")
def command(as_json: bool) -> None:
    """Show the last sync per company and its freshness, failing asset checks, open reconciliation
    differences, the Nmbrs source mode and, while SOAP is in use, the SOAP sunset date.

    Reads the Dagster instance and the warehouse; calls no Nmbrs API. A company is stale when its
    last sync is older than PAYROLL_STALE_AFTER_DAYS (default 35: a payroll cycle and a week).

    Exit code: 0 when all is well, else the sum of 4 (a company stale, never synced or its latest
    run failed), 8 (an asset check failed) and 16 (open reconciliation differences, or the
    reconciliation not built). 2 is a configuration error or an unreachable warehouse.
    """
    from pipelines.app.status import collect

    status = collect()
    if as_json:
        click.echo(json.dumps(status_report.to_json(status), indent=2))
    else:
        for line in status_report.render(status):
            click.echo(line)
    sys.exit(status.exit_code())
