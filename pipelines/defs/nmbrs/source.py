"""The Nmbrs API as the assets see it: one session per run, whichever source mode is configured.

Source modes (NMBRS_SOURCE_MODE, docs/design.md):
- `rest+soap`: REST for companies, runs and employees; SOAP for the per-period wage-component
  report and payslips (REST runs are mapped to SOAP run ids by (year, number) via Run_GetList).
- `soap`: everything from SOAP.
- `rest`: everything from REST; wage components are the REST fixed + variable components (not the
  full computed payroll result), so the coverage is recorded as `rest_only`, and there are no payslips.
Clients are created on first use and closed with the session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from pipelines.defs.nmbrs.tables import EnvironmentRow
from pipelines.lib.nmbrs.config import NmbrsSettings, is_local_url
from pipelines.lib.nmbrs.errors import NmbrsError
from pipelines.lib.nmbrs.records import Company, Employee, PersonalData, RunInfo, WageComponent
from pipelines.lib.nmbrs.reports import DriftRecorder, ReportLine

LOCAL_POLL = (0.2, 2.0)  # first wait and longest wait between polls of report tasks (seconds)
REMOTE_POLL = (5.0, 60.0)


class MissingRunError(NmbrsError):
    """A REST run has no SOAP counterpart (or no run number), so its payslips cannot be requested."""


class NmbrsSession:
    def __init__(self, settings: NmbrsSettings, database_url: str):
        self.settings = settings
        self.database_url = database_url
        self._soap = None
        self._rest = None

    # -- which API serves what ---------------------------------------------------------------
    @property
    def source_mode(self) -> str:
        return self.settings.source_mode

    @property
    def api_source(self) -> str:
        """The `_source` of rows whose listing API depends on the mode (companies, runs, employees)."""
        return "soap" if self.source_mode == "soap" else "rest"

    @property
    def wage_components_from_soap(self) -> bool:
        return self.settings.uses_soap

    @property
    def has_payslips(self) -> bool:
        return self.settings.uses_soap

    @property
    def wage_component_source(self) -> str:
        return "soap_period_report" if self.wage_components_from_soap else "rest_fixed+rest_variable"

    @property
    def coverage(self) -> str:
        return "complete" if self.wage_components_from_soap else "rest_only"

    @property
    def soap(self):
        if self._soap is None:
            from pipelines.lib.nmbrs.soap import NmbrsSoapClient

            # The local sandbox finishes tasks in well under a second; real Nmbrs gets the 5 s backoff.
            local = is_local_url(self.settings.soap_url)
            self._soap = NmbrsSoapClient(self.settings, poll_interval=LOCAL_POLL if local else REMOTE_POLL)
        return self._soap

    @property
    def rest(self):
        if self._rest is None:
            from pipelines.lib.nmbrs.rest import NmbrsRestClient
            from pipelines.lib.nmbrs.tokens import TokenStore

            self._rest = NmbrsRestClient(self.settings, TokenStore(self.database_url, self.settings))
        return self._rest

    def calls(self) -> dict[str, int]:
        return {
            "soap": self._soap.calls if self._soap is not None else 0,
            "rest": self._rest.calls if self._rest is not None else 0,
        }

    def close(self) -> None:
        for client in (self._soap, self._rest):
            if client is not None:
                client.close()
        self._soap = self._rest = None

    def _lister(self):
        return self.soap if self.source_mode == "soap" else self.rest

    # -- reference data ----------------------------------------------------------------------
    def environment(self) -> EnvironmentRow:
        if not self.settings.uses_soap:
            return EnvironmentRow(self.settings.domain or None, None, self.source_mode)
        env = self.soap.environment()
        return EnvironmentRow(env.domain, env.subdomain, self.source_mode)

    def companies(self) -> list[Company]:
        return list(self._lister().companies())

    def employees(self, company_id: int) -> list[tuple[Employee, PersonalData]]:
        return list(self._lister().employees(company_id))

    # -- company-year ------------------------------------------------------------------------
    def runs(self, company_id: int, year: int) -> list[RunInfo]:
        return list(self._lister().runs(company_id, year))

    def soap_run_ids(self, company_id: int, year: int, runs: Sequence[RunInfo]) -> dict[int, str]:
        """SOAP run id per run number of `runs` (Run_GetList; no call in soap mode, where they are)."""
        if self.source_mode == "soap":
            soap_runs = runs
        else:
            soap_runs = self.soap.runs(company_id, year)
        by_number = {run.run_number: run.run_id for run in soap_runs if run.year == year}
        missing = [run for run in runs if run.run_number not in by_number]
        if missing:
            run = missing[0]
            raise MissingRunError(
                f"CompanyService.Run_GetList for company {company_id}, year {year} lists no run number "
                f"{run.run_number} (REST run {run.run_id}), so its payslips cannot be requested. Fix: the "
                "REST and SOAP APIs disagree; run the sync again later, or use NMBRS_SOURCE_MODE=soap"
            )
        return {run.run_number: by_number[run.run_number] for run in runs}

    def start_wage_component_report(self, company_id: int, year: int) -> str:
        return self.soap.start_wage_component_report(company_id, year)

    def start_payslip_report(self, company_id: int, soap_run_id: str, year: int) -> str:
        return self.soap.start_payslip_report(company_id, soap_run_id, year)

    def wait_for_reports(self, task_ids: Sequence[str]) -> None:
        self.soap.wait_for_reports(list(task_ids))

    def load_report(
        self,
        task_id: str,
        load: Callable[[Iterator[ReportLine]], int],
        *,
        kind: str,
        year: int | None = None,
        run_id: str | None = None,
    ) -> tuple[int, DriftRecorder]:
        """Stream a finished report into `load` (an atomic replace); a broken download is fetched
        and loaded again. Returns the rows loaded and the drift seen."""
        return self.soap.load_report(task_id, load, kind=kind, year=year, run_id=run_id)

    def rest_wage_components(self, company_id: int, year: int) -> Iterator[WageComponent]:
        return self.rest.wage_components(company_id, year)
