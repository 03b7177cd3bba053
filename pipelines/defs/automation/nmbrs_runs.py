"""What the sensors ask Nmbrs, and what the warehouse already holds, as run fingerprints.

They use the session of the same `NmbrsResource` as the assets, so runs are listed by the same API
(REST when it is configured, else SOAP Run_GetList) and carry the same run ids the warehouse holds.
"""

from __future__ import annotations

from collections.abc import Callable

from pipelines.defs.automation.run_watch import RunFingerprint, SeenRuns, fingerprints
from pipelines.defs.nmbrs import state
from pipelines.defs.nmbrs.source import NmbrsSession
from pipelines.defs.resources import WarehouseResource
from pipelines.lib.nmbrs.records import RunInfo

RunLister = Callable[[int, int], list[RunFingerprint]]


def fingerprint(run: RunInfo) -> RunFingerprint:
    return RunFingerprint.of(run.run_id, run.run_at, run.is_locked, run.period_start, run.period_end)


def run_lister(session: NmbrsSession) -> RunLister:
    def list_runs(company_id: int, year: int) -> list[RunFingerprint]:
        return [fingerprint(run) for run in session.runs(company_id, year) if run.year == year]

    return list_runs


def warehouse_runs(warehouse: WarehouseResource) -> Callable[[int, int], SeenRuns]:
    """The runs the warehouse already holds for a company-year (the baseline of an unseen one)."""

    def baseline(company_id: int, year: int) -> SeenRuns:
        with warehouse.connect() as conn:
            loaded = state.loaded_runs(conn, company_id, year)
        return fingerprints(fingerprint(run) for run in loaded.values())

    return baseline


def company_ids(session: NmbrsSession) -> list[str]:
    """Company ids (as company_year partition keys) the credentials can see."""
    return sorted({str(company.company_id) for company in session.companies()}, key=int)
