"""Fixtures of the reliability suite: one reference pipeline, synced once without any fault.

`reference` is a demo sandbox (seed 42) of this suite's own, with its own warehouse and Dagster
instance, fully synced (Nmbrs, ERP files, dbt build). Its content hashes are what every faulty,
interrupted or replayed run must end up equal to. Tests that write to it must leave it equal.

Its source mode is `rest+soap`: REST delivers the payroll (run output, journals) and SOAP
cross-checks the listings, so faults in either API's listings reach the sync. The SOAP reports
(the suite's report faults) are read in `soap` mode only: `soap_reference` below.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from tests.support.pipeline import Pipeline, new_pipeline, record_figure, step_errors
from tests.support.sandboxes import sandboxes


@dataclass
class Reference:
    pipeline: Pipeline
    hashes: dict[str, tuple[int, str]]
    seconds: float

    @property
    def sandbox(self):
        return self.pipeline.sandbox


def _reference(make_database, tmp_path_factory, mode: str):
    with sandboxes() as start:
        sandbox = start()
        pipeline = new_pipeline(
            make_database, tmp_path_factory.mktemp("reliability-home"), sandbox, NMBRS_SOURCE_MODE=mode
        )
        started = time.monotonic()
        result = pipeline.sync()
        seconds = time.monotonic() - started
        assert result.success, step_errors(result)
        hashes = pipeline.hashes()
        record_figure(
            "reference" if mode == "rest+soap" else f"reference_{mode}",
            seconds=round(seconds, 1),
            tables=len(hashes),
            rows=sum(rows for rows, _ in hashes.values()),
        )
        yield Reference(pipeline, hashes, seconds)


@pytest.fixture(scope="session")
def reference(make_database, tmp_path_factory):
    yield from _reference(make_database, tmp_path_factory, "rest+soap")


@pytest.fixture(scope="session")
def soap_reference(make_database, tmp_path_factory):
    """As `reference`, in source mode soap: the suite's SOAP report faults reach its syncs."""
    yield from _reference(make_database, tmp_path_factory, "soap")
