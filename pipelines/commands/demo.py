"""`payroll demo` (what `make demo` runs): the whole pipeline on the local sandbox, then a summary."""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click

from pipelines.app import demo
from pipelines.lib import demo_summary, interrupts, settings
from pipelines.lib.logs import open_log
from pipelines.lib.nmbrs.config import NmbrsSettings


def _describe_database(url: str) -> str:
    parts = settings.dsn_parts(url)
    where = "embedded PostgreSQL" if settings.uses_embedded_database() else "PAYROLL_DATABASE_URL"
    return f"{where}, database {parts.dbname!r} on {settings.describe_server(url)}"


@click.command(name="demo")
def command() -> None:
    """Run the whole pipeline on the local Nmbrs sandbox and print what it loaded and reconciled.

    Starts (or reuses) the embedded PostgreSQL and the sandbox (only a sandbox this state folder
    started is reused; when another process holds PAYROLL_SANDBOX_PORT, such as the demo of another
    clone, the sandbox takes a free port), connects the REST API, loads every
    company-year, imports the ERP files, runs `dbt build`, then prints companies, periods and employees,
    the wage-component mapping and the reconciliation differences. A second run reuses the database,
    the stored token, the parsed dbt manifest and every unchanged partition, so it is faster.
    """
    with interrupts.stop_on_signals():
        try:
            _demo()
        except interrupts.Interrupted as stopped:
            click.secho(
                f"demo stopped by {interrupts.signal_name(stopped.signum)} before any data was loaded; "
                "nothing changed. Run `payroll demo` again",
                fg="red",
                err=True,
            )
            sys.exit(interrupts.exit_code(stopped.signum))


def _demo() -> None:
    started = time.monotonic()
    nmbrs = NmbrsSettings.from_env()
    if not nmbrs.demo:
        raise settings.ConfigurationError(
            "`payroll demo` runs against the local Nmbrs sandbox, but NMBRS_* variables are set; unset them "
            "for the demo, or use `payroll sync` for your own Nmbrs"
        )
    click.echo("[1/4] database: starting or reusing ...")
    demo.quiet_runtime_dir_warning()
    database_url = settings.prepare_environment()["PAYROLL_DATABASE_URL"]
    click.echo(f"[1/4] database: {_describe_database(database_url)}")
    click.echo("[2/4] Nmbrs sandbox and REST connection")
    with demo.demo_sandbox(echo=lambda line: click.echo(f"      {line}")):
        # Read again: the settings of the port this state folder's sandbox serves on.
        nmbrs = NmbrsSettings.from_env()
        demo.ensure_sandbox_connection(nmbrs, echo=lambda line: click.echo(f"      {line}"))
        demo.use_sandbox_erp_files(nmbrs)
        log_path = settings.logs_dir() / "demo.log"
        click.echo(
            "[3/4] sync: Nmbrs reference data, one run per company-year, then the ERP files and dbt build"
        )
        click.echo(f"      (dbt and Dagster output goes to {log_path})")
        from pipelines.app.sync import run_sync

        terminal = sys.stdout
        with _output_to(log_path):
            result = run_sync(
                progress=lambda line: click.echo(f"      {line}", file=terminal), started_by="demo"
            )
    if result.interrupted is not None:
        click.secho(
            f"demo {result.interruption().replace('run `payroll sync` again', 'run `payroll demo` again')}",
            fg="red",
            err=True,
        )
        sys.exit(interrupts.exit_code(result.interrupted))
    click.echo("[4/4] summary")
    summary = demo_summary.collect(database_url)
    click.echo("")
    for line in result.partition_lines():
        click.echo(f"Sync: {line}")
    for line in demo_summary.render(summary):
        click.echo(line)
    click.echo("")
    _next_steps(database_url)
    seconds = time.monotonic() - started
    if not result.success:
        for step in result.failures:
            click.secho(f"FAILED {step.name}: {step.error}", fg="red", err=True)
        click.secho(
            f"demo finished with errors in {seconds:.0f}s (`payroll sync --verbose` shows details)",
            fg="red",
            err=True,
        )
        sys.exit(1)
    click.secho(f"demo finished in {seconds:.0f}s", fg="green")


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Send what the libraries print (dbt's log lines, Dagster's console log) to a file, not the terminal."""
    with (
        open_log(path) as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        yield


def _next_steps(database_url: str) -> None:
    click.echo(f"Database: {settings.redacted_url(database_url)}")
    program = _program()
    steps = [
        ("ui", "the Dagster UI: asset graph, runs, checks"),
        ("export --format xlsx --out export/", "a workbook for pivot tables (summary, work list) + a chart"),
        ("mapping check", "is every wage component mapped?"),
        ("db url", "the database URL for psql or a BI tool"),
        ("db stop", "stop the embedded PostgreSQL (make stop)"),
    ]
    width = max(len(f"{program} {command}") for command, _ in steps) + 3
    click.echo("Next:")
    for command, what in steps:
        click.echo(f"  {f'{program} {command}':<{width}}# {what}")


def _program() -> str:
    """How to call `payroll` from here: plain when it is on PATH, else its path (e.g. .venv/bin/payroll)."""
    invoked = Path(sys.argv[0]).resolve()
    on_path = shutil.which("payroll")
    if invoked.name != "payroll" or (on_path and Path(on_path).resolve() == invoked):
        return "payroll"
    try:
        return str(invoked.relative_to(Path.cwd()))
    except ValueError:
        return str(invoked)
