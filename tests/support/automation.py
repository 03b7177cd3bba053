"""An isolated pipeline for the automation tests: its own sandbox, warehouse and Dagster instance,
active (as the process environment) for as long as the generator runs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from pipelines.lib import settings
from pipelines.lib.settings import temporary_env
from tests.support.env import make_env
from tests.support.sandboxes import sandboxes


@dataclass
class AutomationPipeline:
    sandbox: object
    env: dict[str, str]
    home: Path

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.get()

    def definitions(self) -> dg.Definitions:
        from pipelines.definitions import defs

        return defs()


def start_pipeline(make_database, tmp_path_factory, name: str) -> Iterator[AutomationPipeline]:
    with sandboxes() as start:
        server = start()
        home = tmp_path_factory.mktemp(name)
        env = make_env(make_database(name), home, server.env_vars())
        with temporary_env({**env, "PAYROLL_AUTOMATION": None, "PAYROLL_ALERT_WEBHOOK": None}):
            resolved = settings.prepare_environment(start_embedded=False)
            yield AutomationPipeline(
                server, {**{k: v for k, v in env.items() if v is not None}, **resolved}, home
            )
