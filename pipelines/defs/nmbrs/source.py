"""The Nmbrs API as the assets see it: one session per run, whichever source mode is configured.

Source modes (NMBRS_SOURCE_MODE, docs/design.md):
- `rest+soap`: REST lists the companies, runs and employees; SOAP delivers the per-period
  wage-component report and the payslips. REST ids are UUIDs and the raw tables hold SOAP integer
  ids, so REST rows are matched to SOAP ones on the documented keys (pipelines/lib/nmbrs/id_join.py):
  companies by number, employees by employee number, runs by (year, number).
- `soap`: everything from SOAP.
- `rest`: refused for now with a clear error: loading REST alone needs raw tables that hold REST's
  UUIDs next to the SOAP ids (docs/nmbrs-api.md).
Clients are created on first use and closed with the session. The listings (companies, employees,
runs) and the id matching are the session's; reports are asked of `session.soap` directly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence

from pipelines.defs import keys
from pipelines.defs.nmbrs.tables import AssignmentRow, EnvironmentRow, JournalRow
from pipelines.lib.nmbrs import id_join
from pipelines.lib.nmbrs.config import NmbrsSettings, poll_interval
from pipelines.lib.nmbrs.errors import NmbrsError
from pipelines.lib.nmbrs.records import Company, Employee, PersonalData, RunInfo, WageComponent
from pipelines.lib.nmbrs.rest_records import RestCompany, RestEmployee, RestRun

# The kind of a REST department / cost-centre entry as nmbrs.employee_assignments spells it.
ASSIGNMENT_KINDS = {"department": "department", "cost_center": "cost_centre"}


class RestOnlyUnavailable(NmbrsError):
    """NMBRS_SOURCE_MODE=rest: the raw tables cannot hold REST's UUID ids yet."""

    def __init__(self) -> None:
        super().__init__(
            "NMBRS_SOURCE_MODE=rest cannot load yet: Nmbrs REST identifies companies, employees and runs "
            "by UUIDs, and the raw tables hold the SOAP API's integer ids (docs/nmbrs-api.md). Fix: also "
            "set NMBRS_USERNAME and NMBRS_TOKEN and use NMBRS_SOURCE_MODE=rest+soap, or use soap"
        )


class NmbrsSession:
    def __init__(self, settings: NmbrsSettings, database_url: str):
        self.settings = settings
        self.database_url = database_url
        self._soap = None
        self._rest = None
        self._rest_companies: dict[int, RestCompany] | None = None
        self._soap_companies: dict[int, Company] = {}

    # -- which API serves what ---------------------------------------------------------------
    @property
    def source_mode(self) -> str:
        return self.settings.source_mode

    @property
    def api_source(self) -> str:
        """The `_source` of rows whose listing API depends on the mode (companies, runs, employees)."""
        return keys.SOAP_SOURCE if self.source_mode == "soap" else keys.REST_SOURCE

    @property
    def wage_components_from_soap(self) -> bool:
        return self.settings.uses_soap

    @property
    def has_payslips(self) -> bool:
        return self.settings.uses_soap

    @property
    def has_journals(self) -> bool:
        """Journals are REST documents: loaded in rest+soap (and rest) mode, unavailable in soap mode."""
        return self.source_mode != "soap"

    @property
    def wage_component_source(self) -> str:
        return keys.SOAP_REPORT_SOURCE if self.wage_components_from_soap else keys.REST_COMPONENTS_SOURCE

    @property
    def coverage(self) -> str:
        return keys.COMPLETE_COVERAGE if self.wage_components_from_soap else keys.REST_ONLY_COVERAGE

    @property
    def soap(self):
        if self._soap is None:
            from pipelines.lib.nmbrs.soap import NmbrsSoapClient

            self._soap = NmbrsSoapClient(self.settings, poll_interval=poll_interval(self.settings.soap_url))
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
        self._rest_companies = None

    def __enter__(self) -> NmbrsSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _through_rest(self) -> bool:
        """True when REST lists the rows (rest+soap); refuses REST-only loading."""
        if self.source_mode == "rest":
            raise RestOnlyUnavailable()
        return self.source_mode == "rest+soap"

    def _company_pairs(self) -> dict[int, RestCompany]:
        """The REST company behind each SOAP company id, matched on the company number (once per session)."""
        if self._rest_companies is None:
            pairs = id_join.join_ids(
                "company",
                ((id_join.number_key(c.number), c) for c in self.rest.companies()),
                ((id_join.number_key(c.number), c) for c in self.soap.companies()),
                "listing companies",
            )
            self._rest_companies = {soap.company_id: rest for rest, soap in pairs}
            self._soap_companies = {
                soap.company_id: dataclasses.replace(soap, name=rest.name) for rest, soap in pairs
            }
        return self._rest_companies

    def _rest_company_id(self, company_id: int) -> str:
        try:
            return self._company_pairs()[company_id].company_id
        except KeyError:
            raise id_join.IdJoinError(
                f"company {company_id} is not among the companies the REST consent covers. Fix: include it in "
                "the consent (run `payroll connect` again), or leave it out of the sync"
            ) from None

    # -- reference data ----------------------------------------------------------------------
    def environment(self) -> EnvironmentRow:
        if not self.settings.uses_soap:
            return EnvironmentRow(self.settings.domain or None, None, self.source_mode)
        env = self.soap.environment()
        return EnvironmentRow(env.domain, env.subdomain, self.source_mode)

    def companies(self) -> list[Company]:
        if not self._through_rest():
            return list(self.soap.companies())
        self._company_pairs()
        return list(self._soap_companies.values())

    def employees(self, company_id: int) -> list[tuple[Employee, PersonalData]]:
        """The SOAP rows of the employees REST lists (matched on the employee number)."""
        if not self._through_rest():
            return list(self.soap.employees(company_id))
        return [soap for _, soap in self._employee_pairs(company_id)]

    def _employee_pairs(self, company_id: int) -> list[tuple[RestEmployee, tuple[Employee, PersonalData]]]:
        rest = self.rest.employees(self._rest_company_id(company_id))
        return id_join.join_ids(
            "employee",
            ((id_join.number_key(e.employee_number), e) for e in rest),
            ((id_join.number_key(e.employee_number), (e, p)) for e, p in self.soap.employees(company_id)),
            f"listing the employees of company {company_id}",
        )

    @property
    def has_employee_assignments(self) -> bool:
        """Department and cost-centre histories are REST lists: unavailable in soap mode."""
        return self.source_mode != "soap"

    def employees_with_assignments(
        self, company_id: int
    ) -> tuple[list[tuple[Employee, PersonalData]], list[AssignmentRow]]:
        """The employees (as `employees`) and, in rest+soap mode, their department and cost-centre
        histories on the SOAP employee ids (REST employee ids matched through the employee number).
        An entry for an employee REST does not list is left out, like the employee; an entry repeated
        for one employee, kind, period and code (a repeated page, or one saved twice) is kept once,
        the last recorded (createdAt)."""
        if not self._through_rest():
            return list(self.soap.employees(company_id)), []
        pairs = self._employee_pairs(company_id)
        soap_ids = {rest.employee_id: soap.employee_id for rest, (soap, _) in pairs}
        rest_company = self._rest_company_id(company_id)
        entries = [*self.rest.departments(rest_company), *self.rest.cost_centers(rest_company)]
        rows = [
            AssignmentRow(
                company_id=company_id,
                employee_id=soap_ids[entry.employee_id],
                kind=ASSIGNMENT_KINDS[entry.kind],
                code=entry.code,
                description=entry.description,
                valid_from_year=entry.year,
                valid_from_period=entry.period,
                assigned_at=entry.created_at,
            )
            for entry in entries
            if entry.employee_id in soap_ids
        ]
        latest: dict[tuple, AssignmentRow] = {}
        for row in sorted(rows, key=lambda r: r.assigned_at or dt.datetime.min):
            latest[(row.employee_id, row.kind, row.valid_from_year, row.valid_from_period, row.code)] = row
        return [soap for _, soap in pairs], list(latest.values())

    # -- company-year ------------------------------------------------------------------------
    def runs(self, company_id: int, year: int) -> list[RunInfo]:
        if not self._through_rest():
            return list(self.soap.runs(company_id, year))
        return [
            id_join.rest_run_as_run_info(run, company_id)
            for run in self.rest.runs(self._rest_company_id(company_id), year)
        ]

    def soap_run_ids(self, company_id: int, year: int, runs: Sequence[RunInfo]) -> dict[int, str]:
        """SOAP run id per run number of `runs`, matched on (year, number) with Run_GetList (no call in
        soap mode, where the runs are SOAP's own)."""
        soap_runs = runs if self.source_mode == "soap" else self.soap.runs(company_id, year)
        pairs = id_join.join_ids(
            "run",
            (((run.year, run.run_number), run) for run in runs),
            (((run.year, run.run_number), run) for run in soap_runs),
            f"matching the runs of company {company_id}, {year} to request their payslips",
        )
        return {rest.run_number: soap.run_id for rest, soap in pairs}

    def journals(
        self, company_id: int, runs: Sequence[RunInfo], variants: Sequence[str]
    ) -> Iterator[JournalRow]:
        """The journal lines of `runs` (RunInfo rows whose run_id is the REST payrollRunId) in each
        variant, as rows of nmbrs.journals: all documents are started first, then awaited together."""
        if not self._through_rest():
            raise NmbrsError("journals are REST documents: source mode soap has none")
        self._rest_company_id(company_id)  # a clear error for a company outside the REST consent
        rest_company = self._company_pairs()[company_id]
        by_id = {run.run_id: run for run in runs}
        rest_runs = [
            RestRun(
                company_id=rest_company.company_id,
                payroll_run_id=run.run_id,
                number=run.run_number,
                year=run.year,
                period_start=run.period_start,
                period_end=run.period_end,
                description=run.description,
                created_at=run.run_at,
                run_type=None,
                locked=run.is_locked,
            )
            for run in runs
        ]
        documents = self.rest.journals(rest_company.company_id, rest_runs, variants) if rest_runs else {}
        for (run_id, variant), lines in sorted(documents.items()):
            run = by_id[run_id]
            for line in lines:
                yield JournalRow(
                    company_id=company_id,
                    company_number=rest_company.number,
                    year=run.year,
                    run_id=run.run_id,
                    run_number=run.run_number,
                    variant=variant,
                    journal_year=line.year,
                    journal_period=line.period,
                    journal_date=line.date,
                    line_id=line.line_id,
                    gl_account=line.account,
                    dimension=line.dimension,
                    cost_unit=line.cost_unit,
                    side=line.side,
                    description=line.description,
                    amount=line.value,
                )

    def rest_wage_components(self, company_id: int, year: int) -> Iterator[WageComponent]:
        """Wage components from REST alone: not loadable into the integer-keyed raw tables yet."""
        raise RestOnlyUnavailable()
