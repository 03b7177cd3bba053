"""`payroll sync`: load Nmbrs (and the ERP files, then dbt) headless, with progress and a summary."""

from __future__ import annotations

import datetime as dt
import os
import sys

import click

from pipelines.app import demo
from pipelines.lib import interrupts, settings


def _summary(result) -> list[str]:
    width = max((len(step.name) for step in result.steps), default=4)
    lines = [
        f"{'step':<{width}}  {'status':<7}  {'rows':>8}  {'written':>8}  {'SOAP':>5}  {'REST':>5}  {'time':>7}  what"
    ]
    for step in result.steps:
        rows = sum(load.rows for load in step.loads)
        written = sum(load.rows_loaded for load in step.loads)
        status = "ok" if step.success else "stopped" if step.interrupted else "FAILED"
        lines.append(
            f"{step.name:<{width}}  {status:<7}  {rows:>8}  {written:>8}  {step.calls['soap']:>5}  "
            f"{step.calls['rest']:>5}  {step.seconds:>6.1f}s  {step.work() if step.success else ''}"
        )
    calls = result.calls()
    lines.append(
        f"source mode {result.source_mode}; {len(result.partitions)} company-year partition(s); "
        f"{calls['soap']} SOAP and {calls['rest']} REST calls; {result.seconds:.1f}s"
    )
    lines += result.partition_lines()
    rows = result.rows()
    if rows:
        lines.append(
            "rows per table: " + ", ".join(f"{asset} {count}" for asset, count in sorted(rows.items()))
        )
    return lines


def stopped_before_loading(signum: int) -> None:
    """A signal before the first Dagster run (starting the sandbox, connecting, loading definitions)."""
    click.secho(
        f"stopped by {interrupts.signal_name(signum)} before any data was loaded; nothing changed. "
        "Run the command again to load",
        fg="red",
        err=True,
    )
    sys.exit(interrupts.exit_code(signum))


@click.command(name="sync")
@click.option(
    "--since",
    type=click.IntRange(1990, dt.date.today().year),
    default=None,
    help="First payroll year to load (default PAYROLL_START_YEAR, else last year).",
)
@click.option(
    "--company",
    "companies",
    multiple=True,
    type=int,
    help="Only this Nmbrs company id (repeatable). Default: every company.",
)
@click.option("--no-dbt", is_flag=True, help="Load the raw tables only; skip the ERP files and dbt build.")
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Fetch every report again, even for company-years whose runs did not change.",
)
@click.option(
    "--allow-erp-shrink",
    is_flag=True,
    help="Load ERP files even if they empty the ERP side or remove more rows than they keep "
    "(same as PAYROLL_ERP_ALLOW_SHRINK=true).",
)
@click.option("--verbose", "-v", is_flag=True, help="Show the full error (traceback) of failed steps.")
def command(
    since: int | None,
    companies: tuple[int, ...],
    no_dbt: bool,
    full_refresh: bool,
    allow_erp_shrink: bool,
    verbose: bool,
) -> None:
    """Run the whole pipeline once, headless: Nmbrs raw tables, then the ERP files and dbt build.

    First the mapping files get the checks of `payroll mapping check`; a problem stops the sync
    before anything runs, with the check's messages (mappings/README.md).

    Each step is a Dagster run in the same instance as `payroll ui`, so it shows there too. A failed
    company-year is reported and the others still load; the exit code is then 1. Without NMBRS_*
    settings, the local demo sandbox is served for the duration of the sync.
    """
    if since is not None:
        # Read by the year partitions when the definitions are first imported (below).
        settings.set_start_year(since)
    if allow_erp_shrink:
        os.environ["PAYROLL_ERP_ALLOW_SHRINK"] = "true"  # read by the ERP assets (settings.erp_allow_shrink)
    from pipelines.app.sync import run_sync

    with interrupts.stop_on_signals():
        try:
            with demo.demo_sandbox_if_needed(echo=click.echo):
                result = run_sync(
                    since=since,
                    companies=companies or None,
                    include_dbt=not no_dbt,
                    progress=click.echo,
                    full_refresh=full_refresh,
                )
        except interrupts.Interrupted as stopped:
            stopped_before_loading(stopped.signum)
    click.echo("")
    for line in _summary(result):
        click.echo(line)
    if result.interrupted is not None:
        click.secho(result.interruption(), fg="red", err=True)
        sys.exit(interrupts.exit_code(result.interrupted))
    if result.success:
        click.secho("sync finished", fg="green")
        return
    for step in result.failures:
        click.secho(f"FAILED {step.name}: {step.error}", fg="red", err=True)
        if verbose and step.error_detail:
            click.echo(step.error_detail, err=True)
    if not verbose:
        click.echo("Run again with --verbose for the full error.", err=True)
    sys.exit(1)
