"""`payroll`: the command-line front door.

Each command lives in its own module under pipelines/commands/ and exposes a click command named
`command`; they are discovered here so that `payroll --help` always lists every one of them.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from pipelines import commands
from pipelines.lib.diskfull import disk_full_message
from pipelines.lib.logs import configure_logging
from pipelines.lib.settings import ConfigurationError


class PayrollGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigurationError as exc:
            click.secho(f"Configuration error: {exc}", fg="red", err=True)
            sys.exit(2)
        except OSError as exc:
            full = disk_full_message(exc)
            if full is None:
                raise
            click.secho(full, fg="red", err=True)
            sys.exit(1)


@click.group(cls=PayrollGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="payroll-pipeline")
def main() -> None:
    """Nmbrs payroll into your PostgreSQL warehouse, mapped to GL accounts and reconciled with the ERP.

    With no settings, commands use an embedded PostgreSQL in .payroll/ and the local Nmbrs sandbox.
    Configure a real setup with PAYROLL_DATABASE_URL and the NMBRS_* variables (see README.md).
    """
    configure_logging()


def _register_commands() -> None:
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        main.add_command(module.command)


_register_commands()


if __name__ == "__main__":
    main()
