"""`payroll backfill`: the first import of history as a Dagster asset backfill."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import click

from pipelines.app import demo
from pipelines.lib import dagster_ui, interrupts, settings
from pipelines.lib.automation_settings import AUTOMATION_VARIABLE, AutomationSettings
from pipelines.lib.nmbrs.config import NmbrsSettings, is_local_url

DEFAULT_TIMEOUT_SECONDS = 3600
CANCEL_WAIT_SECONDS = 30


def _start_daemon() -> subprocess.Popen:
    """A dagster-daemon for this backfill only: sensors and schedules stay off in it (PAYROLL_AUTOMATION)."""
    return subprocess.Popen(
        [sys.executable, "-m", "dagster._daemon", "run", "-w", str(dagster_ui.WORKSPACE_YAML)],
        cwd=settings.PROJECT_ROOT,
        env={**os.environ, AUTOMATION_VARIABLE: "off"},
        start_new_session=True,
    )


def _connect_local_sandbox(nmbrs: NmbrsSettings) -> None:
    """Against a local sandbox (not demo mode, which demo_sandbox_if_needed covers) connect REST first."""
    if nmbrs.uses_rest and not nmbrs.demo and is_local_url(nmbrs.identity_url):
        demo.ensure_sandbox_connection(nmbrs, echo=click.echo)


def _company_ids(nmbrs: NmbrsSettings) -> list[str]:
    """The companies Nmbrs lists now, through the same session the assets and sensors use."""
    from pipelines.defs.automation.nmbrs_runs import company_ids
    from pipelines.defs.nmbrs.source import NmbrsSession

    with NmbrsSession(nmbrs, settings.database_url()) as session:
        return company_ids(session)


def _cancel(instance, backfill_id: str, signum: int) -> None:
    """A SIGINT or SIGTERM during --wait: cancel the backfill, wait briefly for its runs to stop, say
    what was left undone and exit 130 / 143."""
    from pipelines.defs.automation import first_import

    name = interrupts.signal_name(signum)
    click.echo(f"{name}: canceling backfill {backfill_id} (runs in progress are stopped and roll back)")
    first_import.cancel(instance, backfill_id)
    deadline = time.monotonic() + CANCEL_WAIT_SECONDS
    with interrupts.deferred():  # a second signal does not cut the cancellation short
        while True:
            time.sleep(0.5)
            current = first_import.progress(instance, backfill_id)
            # Done once no run of it is in progress (the daemon marks the backfill canceled later).
            if current.done or not current.runs_in_progress or time.monotonic() >= deadline:
                break
    click.secho(
        f"stopped by {name}: backfill {backfill_id} {current.status.lower()}; "
        f"{current.materialized}/{current.target} asset partitions were materialized, the rest were not "
        f"started or were rolled back ({current.runs_in_progress} run(s) still stopping). Run `payroll "
        "backfill` again to finish (loads replace whole partitions, so nothing is doubled)",
        fg="red",
        err=True,
    )
    sys.exit(interrupts.exit_code(signum))


@click.command(name="backfill")
@click.option(
    "--since",
    type=int,
    default=None,
    help="First payroll year to load [default: PAYROLL_START_YEAR, else last year].",
)
@click.option(
    "--wait/--no-wait",
    default=False,
    show_default=True,
    help="Wait for the backfill to finish, printing its progress.",
)
@click.option(
    "--timeout",
    type=click.IntRange(1),
    default=DEFAULT_TIMEOUT_SECONDS,
    show_default=True,
    help="Seconds --wait waits at most.",
)
def command(since: int | None, wait: bool, timeout: int) -> None:
    """Load every company's payroll history from --since up to this year as a Dagster asset backfill.

    The backfill shows on the Dagster UI's Backfills page. A running dagster-daemon (`payroll ui`)
    processes it; with --wait and no daemon running, one is started for the duration of the wait.
    """
    settings.prepare_environment()
    if since is not None:
        # Exported before the definitions load, so that the code location's years include it.
        settings.set_start_year(since)
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.defs.automation import first_import
    from pipelines.defs.automation.pool import apply_pool_size
    from pipelines.defs.nmbrs.partitions import register_companies

    years = settings.payroll_years()
    nmbrs = NmbrsSettings.from_env()
    with demo.demo_sandbox_if_needed(echo=click.echo), dg.DagsterInstance.get() as instance:
        _connect_local_sandbox(nmbrs)
        apply_pool_size(instance, AutomationSettings.from_env().nmbrs_pool_size)
        companies = _company_ids(nmbrs)
        register_companies(instance, companies)
        backfill_id = first_import.submit_first_import(
            instance, defs(), years, title=f"First import {years[0]}-{years[-1]}"
        )
        click.echo(
            f"submitted backfill {backfill_id}: {len(companies)} companies x {len(years)} years "
            f"({years[0]}-{years[-1]}) and the marts; it shows on the Dagster UI's Backfills page"
        )
        daemon_running = first_import.daemon_running(instance)
        if not wait:
            if not daemon_running:
                click.echo("no dagster-daemon is running: the backfill starts when `payroll ui` runs")
            return
        daemon = None
        if not daemon_running:
            click.echo("starting a dagster-daemon for this backfill (it stops when the backfill ends)")
            daemon = _start_daemon()
        try:
            with interrupts.stop_on_signals():
                try:
                    result = first_import.wait_for(
                        instance, backfill_id, timeout, report=lambda p: click.echo(p.line()), poll_seconds=1
                    )
                except interrupts.Interrupted as stopped:
                    _cancel(instance, backfill_id, stopped.signum)
        finally:
            if daemon is not None:
                dagster_ui.stop(daemon)
    if not result.done:
        raise click.ClickException(
            f"backfill {backfill_id} is still running after {timeout} s; follow it on the UI's Backfills "
            f"page, or wait longer with --timeout"
        )
    if not result.succeeded:
        raise click.ClickException(
            f"backfill {backfill_id} ended {result.status.lower()}: {result.failed} asset partition(s) "
            f"failed. Fix: open the failed runs on the UI's Backfills page, fix the cause, and run "
            f"`payroll backfill` again (loads replace whole partitions, so nothing is doubled)"
        )
