"""The security suite's helpers: hostile names, DEBUG log capture, a sync made to fail, the event log
as text, and the record (`Secured`) the leak, access and injection tests read."""

from __future__ import annotations

import dataclasses
import io
import logging
from dataclasses import dataclass, field

from tests.support.pipeline import Pipeline

HOSTILE_COMPANY = 'Robert\'); DROP TABLE nmbrs.companies; -- \\N \t "x" $$ ; select 1'
HOSTILE_LAST_NAME = "O'Neil\"; delete from nmbrs.employees; --\\"
DEBUG_LOGGERS = ("", "zeep", "zeep.transports", "urllib3", "requests", "dagster", "pipelines")


@dataclass
class Secured:
    pipeline: Pipeline
    logs: str
    events: str
    exceptions: str
    secrets: dict[str, str]
    bsns: set[str]
    birth_dates: set[str]
    hostile_company_id: int
    hostile_employee: tuple[int, int]
    run_ids: list[str] = field(default_factory=list)

    @property
    def sandbox(self):
        return self.pipeline.sandbox


def make_names_hostile(sandbox) -> tuple[int, tuple[int, int]]:
    """Give company 103 and one of its employees names full of quotes, semicolons and COPY escapes."""
    world = sandbox.state.world
    company = world.company(103)
    world._companies[103] = dataclasses.replace(company, name=HOSTILE_COMPANY)
    employees = world.employees(103)
    employees[0] = dataclasses.replace(employees[0], last_name=HOSTILE_LAST_NAME)
    return 103, (103, employees[0].id)


class capture_debug_logs:  # noqa: N801 - used as a context manager, reads like one
    """Every logger at DEBUG into one buffer (zeep.transports included: the client must hold it at INFO)."""

    def __enter__(self) -> io.StringIO:
        self.buffer = io.StringIO()
        self.handler = logging.StreamHandler(self.buffer)
        self.handler.setLevel(logging.DEBUG)
        self.handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.saved = {name: logging.getLogger(name).level for name in DEBUG_LOGGERS}
        for name in DEBUG_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)
        logging.getLogger().addHandler(self.handler)
        return self.buffer

    def __exit__(self, *exc) -> None:
        logging.getLogger().removeHandler(self.handler)
        for name, level in self.saved.items():
            logging.getLogger(name).setLevel(level)


def failing_sync(pipeline: Pipeline):
    """A sync through error paths: a connection reset on the company list (retried), then every REST
    runs call refused with 401 (one refresh, then the partition fails with its traceback)."""
    faults = pipeline.sandbox.state.faults
    faults.inject("rest:companies", "reset")
    faults.inject("rest:runs", "401", times=None)
    try:
        result = pipeline.sync(companies=[101], include_dbt=False, full_refresh=True)
    finally:
        faults.clear()
    assert not result.success, "the failing sync was meant to fail"
    return result


def event_log_text(pipeline: Pipeline, steps) -> tuple[str, list[str]]:
    """The serialized text of every event record (messages, metadata, errors) of the sync's runs."""
    import dagster as dg
    from dagster._serdes import serialize_value

    run_ids = [step.run_id for step in steps if step.run_id]
    parts = []
    with pipeline.active(), dg.DagsterInstance.get() as instance:
        for run in instance.get_runs():
            run_ids.append(run.run_id)
            parts.append(serialize_value(run))
            for entry in instance.all_logs(run.run_id):
                parts.append(serialize_value(entry))
    return "\n".join(parts), sorted(set(run_ids))
