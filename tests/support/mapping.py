"""The `payroll` CLI in process, as the mapping tests call it."""

from __future__ import annotations

from click.testing import CliRunner, Result

from pipelines.cli import main


def run_payroll(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)
