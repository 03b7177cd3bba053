"""`payroll ui`: the Dagster UI (webserver + daemon) on the same instance and database as the CLI."""

from __future__ import annotations

import click

from pipelines.app import demo
from pipelines.lib import dagster_ui, settings


@click.command(name="ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the webserver listens on.")
@click.option(
    "--port", default=3000, show_default=True, type=click.IntRange(1, 65535), help="Webserver port."
)
def command(host: str, port: int) -> None:
    """Start the Dagster UI and daemon (sensors, schedules, queued runs). Ctrl-C stops everything.

    With no NMBRS_* variables set, the local Nmbrs sandbox is started too (demo mode), so the UI can
    run the pipeline right away.
    """
    demo.quiet_runtime_dir_warning()
    settings.prepare_environment()
    _apply_pool_size()
    with demo.demo_sandbox_if_needed(echo=click.echo):
        click.echo(
            f"Dagster UI: http://{host}:{port}  (DAGSTER_HOME={settings.dagster_home()}); Ctrl-C stops it"
        )
        code = dagster_ui.run_foreground(dagster_ui.dagster_dev_command(host, port))
    if code:
        raise SystemExit(code)


def _apply_pool_size() -> None:
    """Size the `nmbrs_api` pool from PAYROLL_NMBRS_POOL_SIZE before the UI can launch runs."""
    import dagster as dg

    from pipelines.defs.automation.pool import apply_pool_size
    from pipelines.lib.automation_settings import AutomationSettings

    with dg.DagsterInstance.get() as instance:
        apply_pool_size(instance, AutomationSettings.from_env().nmbrs_pool_size)
