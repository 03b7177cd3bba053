"""What the sensors ask Nmbrs: the companies, and each company-year's runs as fingerprints.

They use the same NmbrsSession as the assets, so runs are listed by the same API (REST when it is
configured, else SOAP Run_GetList) and carry the same run ids the warehouse holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pipelines.defs.automation.run_watch import RunFingerprint
from pipelines.defs.nmbrs.source import NmbrsSession
from pipelines.lib import settings
from pipelines.lib.nmbrs.config import NmbrsSettings

RunLister = Callable[[int, int], list[RunFingerprint]]


@contextmanager
def nmbrs_session() -> Iterator[NmbrsSession]:
    """A session on the configured Nmbrs (NMBRS_*), closed on exit."""
    session = NmbrsSession(NmbrsSettings.from_env(), settings.database_url(start_embedded=False))
    try:
        yield session
    finally:
        session.close()


def run_lister(session: NmbrsSession) -> RunLister:
    def list_runs(company_id: int, year: int) -> list[RunFingerprint]:
        return [
            RunFingerprint.of(run.run_id, run.run_at, run.is_locked, run.period_start, run.period_end)
            for run in session.runs(company_id, year)
            if run.year == year
        ]

    return list_runs


def company_ids(session: NmbrsSession) -> list[str]:
    """Company ids (as company_year partition keys) the credentials can see."""
    return sorted({str(company.company_id) for company in session.companies()}, key=int)
