"""The Nmbrs API as the assets see it: one session per run, whichever source mode is configured.

Keys (docs/nmbrs-api.md): the warehouse keys on what both APIs carry. `company_id` is the Nmbrs
company number, `employee_id` the employee number within the company, a run is (year, run number)
within the company. The API ids keep their own columns (`soap_*_id`, `rest_*_id`). The session is the
one place that maps keys to API ids (with pipelines/lib/nmbrs/id_join.py): company number -> SOAP
company id (List_GetAll, once per session) and -> REST companyId; SOAP employee id -> employee
number (the PersonalInfo listing); REST ids come with the REST rows.

Source modes (NMBRS_SOURCE_MODE, pipelines/lib/nmbrs/config.py):
- `rest`: everything from REST: companies (+ their period type), runs, employees and personal info,
  departments and cost centres, the run output of every run (wage components summed per period, and
  the payslip lines per run) and the journals.
- `rest+soap`: as `rest`, and SOAP cross-checks the companies and employees listings (a company or
  employee REST lists and SOAP does not fails the listing) and fills the SOAP id columns.
- `soap`: everything from SOAP (the per-period wage-component report, the payslip reports); no
  journals, departments or cost centres.
Clients are created on first use and closed with the session.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import TypeVar

from pipelines.defs import keys
from pipelines.defs.nmbrs.tables import AssignmentRow, EnvironmentRow, JournalRow, PayslipRow
from pipelines.lib.nmbrs import id_join, rest_records
from pipelines.lib.nmbrs.config import NmbrsSettings, poll_interval
from pipelines.lib.nmbrs.documents import RunOutputLine
from pipelines.lib.nmbrs.errors import NmbrsError, ReportContentError
from pipelines.lib.nmbrs.records import Company, Employee, PersonalData, RunInfo, WageComponent
from pipelines.lib.nmbrs.rest_records import RestCompany, RestRun

# The kind of a REST department / cost-centre entry as nmbrs.employee_assignments spells it.
ASSIGNMENT_KINDS = {"department": "department", "cost_center": "cost_centre"}


C = TypeVar("C", RestCompany, Company)


class NmbrsSession:
    def __init__(self, settings: NmbrsSettings, database_url: str):
        self.settings = settings
        self.database_url = database_url
        self._soap = None
        self._rest = None
        self._rest_companies: dict[int, RestCompany] | None = None  # company number -> REST company
        self._soap_companies: dict[int, Company] | None = None  # company number -> SOAP company
        self._employee_numbers: dict[int, dict[int, int]] = {}  # company -> SOAP employee id -> number

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
        """The SOAP per-period report (soap mode); otherwise the REST run output."""
        return self.source_mode == "soap"

    @property
    def has_payslips(self) -> bool:
        """Payslip lines: the SOAP payslip report, or the REST run output per run (docs/nmbrs-api.md)."""
        return True

    @property
    def has_journals(self) -> bool:
        """Journals are REST documents: loaded in rest and rest+soap mode, unavailable in soap mode."""
        return self.source_mode != "soap"

    @property
    def wage_component_source(self) -> str:
        return keys.SOAP_REPORT_SOURCE if self.wage_components_from_soap else keys.RUN_OUTPUT_SOURCE

    @property
    def coverage(self) -> str:
        """Complete in every mode: the SOAP report and the REST run output both hold the computed
        payroll (employer charges, taxes and totals included)."""
        return keys.COMPLETE_COVERAGE

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
        self._rest_companies = self._soap_companies = None
        self._employee_numbers = {}

    def __enter__(self) -> NmbrsSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- keys and API ids (the one place) -----------------------------------------------------
    def _rest_by_number(self) -> dict[int, RestCompany]:
        """Company number -> REST company (GET /api/companies, once per session)."""
        if self._rest_companies is None:
            self._rest_companies = _by_number(self.rest.companies(), "REST")
        return self._rest_companies

    def _soap_by_number(self) -> dict[int, Company]:
        """Company number -> SOAP company (List_GetAll, once per session)."""
        if self._soap_companies is None:
            self._soap_companies = _by_number(self.soap.companies(), "SOAP")
        return self._soap_companies

    def _outside(self, company_id: int, api: str) -> id_join.IdJoinError:
        consent = "REST consent" if api == "REST" else "SOAP token"
        return id_join.IdJoinError(
            f"company {company_id} is not among the companies the {consent} covers. Fix: include it "
            f"({'run `payroll connect` again' if api == 'REST' else 'in the token user rights in Nmbrs'}), "
            "or leave it out of the sync"
        )

    def rest_company(self, company_id: int) -> RestCompany:
        try:
            return self._rest_by_number()[company_id]
        except KeyError:
            raise self._outside(company_id, "REST") from None

    def soap_company_id(self, company_id: int) -> int:
        """The SOAP company id of a company number: what every SOAP call takes (never the number)."""
        try:
            return self._soap_by_number()[company_id].company_id
        except KeyError:
            raise self._outside(company_id, "SOAP") from None

    def employee_numbers(self, company_id: int) -> dict[int, int]:
        """SOAP employee id -> employee number of a company (the PersonalInfo listing, once per session)."""
        if company_id not in self._employee_numbers:
            self.soap_employees(company_id)
        return self._employee_numbers[company_id]

    def soap_employees(self, company_id: int) -> list[tuple[Employee, PersonalData]]:
        """The SOAP employees of a company on the warehouse keys, SOAP ids in soap_employee_id."""
        rows, numbers = [], {}
        for employee, personal in self.soap.employees(self.soap_company_id(company_id)):
            number = id_join.employee_number(employee.employee_number, company_id, "SOAP")
            numbers[employee.employee_id] = number
            rows.append(
                (
                    dataclasses.replace(
                        employee,
                        company_id=company_id,
                        employee_id=number,
                        soap_employee_id=employee.employee_id,
                    ),
                    dataclasses.replace(personal, company_id=company_id, employee_id=number),
                )
            )
        if len(set(numbers.values())) != len(numbers):
            raise id_join.IdJoinError(
                f"listing the employees of company {company_id}: SOAP lists two employees with one employee "
                "number. Fix: give each employee its own employee number in Nmbrs"
            )
        self._employee_numbers[company_id] = numbers
        return rows

    # -- reference data ----------------------------------------------------------------------
    def environment(self) -> EnvironmentRow:
        if not self.settings.uses_soap:
            return EnvironmentRow(self.settings.domain or None, None, self.source_mode)
        env = self.soap.environment()
        return EnvironmentRow(env.domain, env.subdomain, self.source_mode)

    def companies(self) -> list[Company]:
        """Every company, keyed on its number; in rest+soap the REST listing joined to SOAP's."""
        if self.source_mode == "soap":
            return [
                dataclasses.replace(c, company_id=number, soap_company_id=c.company_id)
                for number, c in sorted(self._soap_by_number().items())
            ]
        rest = sorted(self._rest_by_number().items())
        if self.source_mode == "rest":
            return [
                Company(
                    company_id=number,
                    number=c.number,
                    name=c.name,
                    period_type=self.rest.period_type(c.company_id),
                    rest_company_id=c.company_id,
                )
                for number, c in rest
            ]
        pairs = id_join.join_ids("company", rest, sorted(self._soap_by_number().items()), "listing companies")
        return [
            dataclasses.replace(
                soap,
                company_id=id_join.company_number(rest_c.number, rest_c.name, "REST"),
                name=rest_c.name,
                soap_company_id=soap.company_id,
                rest_company_id=rest_c.company_id,
            )
            for rest_c, soap in pairs
        ]

    def employees(self, company_id: int) -> list[tuple[Employee, PersonalData]]:
        return self.employees_with_assignments(company_id)[0]

    def _rest_employees(self, company_id: int) -> list[tuple[Employee, PersonalData]]:
        """The REST employees (+ their current personal info: the latest createdAt) on the keys."""
        rest_company = self.rest_company(company_id).company_id
        histories = self.rest.personal_info(rest_company)
        rows = []
        for employee in self.rest.employees(rest_company):
            number = id_join.employee_number(employee.employee_number, company_id, "REST")
            history = histories.get(employee.employee_id, [])
            info = rest_records.current(history)
            started = min(
                ((r.year, r.period) for r in history if r.year is not None and r.period is not None),
                default=(None, None),
            )
            rows.append(
                (
                    Employee(
                        company_id=company_id,
                        employee_id=number,
                        employee_number=str(number),
                        display_name=None,  # REST has no display name (docs/nmbrs-api.md)
                        first_name=employee.first_name,
                        initials=employee.initials,
                        prefix=employee.prefix,
                        last_name=employee.last_name,
                        gender=info.gender if info else None,
                        start_period=started[1],
                        start_year=started[0],
                        creation_date=min((r.created_at for r in history if r.created_at), default=None),
                        rest_employee_id=employee.employee_id,
                    ),
                    PersonalData(
                        company_id=company_id,
                        employee_id=number,
                        bsn=None,  # REST serves the BSN only under /employees/privateInfos: never asked
                        birth_date=info.birth_date if info else None,
                        email_work=info.business_email if info else None,
                    ),
                )
            )
        if len({e.employee_id for e, _ in rows}) != len(rows):
            raise id_join.IdJoinError(
                f"listing the employees of company {company_id}: REST lists two employees with one employee "
                "number. Fix: give each employee its own employee number in Nmbrs"
            )
        return rows

    @property
    def has_employee_assignments(self) -> bool:
        """Department and cost-centre histories are REST lists: unavailable in soap mode."""
        return self.source_mode != "soap"

    def employees_with_assignments(
        self, company_id: int
    ) -> tuple[list[tuple[Employee, PersonalData]], list[AssignmentRow]]:
        """The employees and (rest, rest+soap) their department and cost-centre histories, on the
        employee numbers. In rest+soap the REST employees are matched to SOAP's on the employee
        number, which fills soap_employee_id and keeps SOAP's display name. An entry repeated for one
        employee, kind, period and code (a repeated page, or one saved twice) is kept once, the last
        recorded (createdAt)."""
        if self.source_mode == "soap":
            return self.soap_employees(company_id), []
        rows = self._rest_employees(company_id)
        if self.source_mode == "rest+soap":
            pairs = id_join.join_ids(
                "employee",
                ((e.employee_id, e) for e, _ in rows),
                ((e.employee_id, (e, p)) for e, p in self.soap_employees(company_id)),
                f"listing the employees of company {company_id}",
            )
            rows = [  # SOAP's display name and personal data (its BSN: REST's is never asked)
                (
                    dataclasses.replace(
                        rest, soap_employee_id=soap.soap_employee_id, display_name=soap.display_name
                    ),
                    personal,
                )
                for rest, (soap, personal) in pairs
            ]
        numbers = {e.rest_employee_id: e.employee_id for e, _ in rows}
        rest_company = self.rest_company(company_id).company_id
        entries = [*self.rest.departments(rest_company), *self.rest.cost_centers(rest_company)]
        assignments = [
            AssignmentRow(
                company_id=company_id,
                employee_id=numbers[entry.employee_id],
                kind=ASSIGNMENT_KINDS[entry.kind],
                code=entry.code,
                description=entry.description,
                valid_from_year=entry.year,
                valid_from_period=entry.period,
                assigned_at=entry.created_at,
            )
            for entry in entries
            if entry.employee_id in numbers
        ]
        latest: dict[tuple, AssignmentRow] = {}
        for row in sorted(assignments, key=lambda r: r.assigned_at or dt.datetime.min):
            latest[(row.employee_id, row.kind, row.valid_from_year, row.valid_from_period, row.code)] = row
        return rows, list(latest.values())

    # -- company-year ------------------------------------------------------------------------
    def runs(self, company_id: int, year: int) -> list[RunInfo]:
        """The runs of a company-year; run_id holds the id of the API that listed the run."""
        if self.source_mode == "soap":
            return [
                dataclasses.replace(run, company_id=company_id, soap_run_id=run.run_id)
                for run in self.soap.runs(self.soap_company_id(company_id), year)
            ]
        return [
            id_join.rest_run_as_run_info(run, company_id)
            for run in self.rest.runs(self.rest_company(company_id).company_id, year)
        ]

    def _rest_runs(self, company_id: int, runs: Sequence[RunInfo]) -> list[RestRun]:
        rest_company = self.rest_company(company_id)
        return [
            RestRun(
                company_id=rest_company.company_id,
                payroll_run_id=run.rest_run_id or run.run_id,
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

    def run_outputs(
        self, company_id: int, runs: Sequence[RunInfo], drift=None
    ) -> dict[int, list[RunOutputLine]]:
        """The run output of every run (all document tasks started first, then awaited together), by
        run number. A run with employees whose output holds no line fails (ReportContentError)."""
        if not runs:
            return {}
        rest_company = self.rest_company(company_id).company_id
        outputs = self.rest.run_outputs(rest_company, self._rest_runs(company_id, runs), drift)
        return {run.run_number: outputs[run.rest_run_id or run.run_id] for run in runs}

    def journals(
        self, company_id: int, runs: Sequence[RunInfo], variants: Sequence[str]
    ) -> Iterator[JournalRow]:
        """The journal lines of `runs` (REST runs) in each variant, as rows of nmbrs.journals: all
        documents are started first, then awaited together."""
        if self.source_mode == "soap":
            raise NmbrsError("journals are REST documents: source mode soap has none")
        rest_company = self.rest_company(company_id)
        by_id = {run.rest_run_id or run.run_id: run for run in runs}
        rest_runs = self._rest_runs(company_id, runs)
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


def _line_number(line: RunOutputLine, company_id: int) -> int:
    if line.employee_number is None:
        raise ReportContentError(
            f"the run output of run {line.run_number} (company {company_id}) has an employee without an "
            "employee number, so its lines cannot be keyed. Fix: check the run in Nmbrs"
        )
    return line.employee_number


def wage_components_from_run_outputs(
    company_id: int, year: int, outputs: dict[int, list[RunOutputLine]]
) -> list[WageComponent]:
    """nmbrs.wage_components from the run outputs of a company-year: each (year, period, employee,
    code) summed over the runs, the grain of the SOAP per-period report. A correction run's output
    holds the differences it made (modeled), so the sum is the period's final value
    (docs/nmbrs-api.md). Lines of another year than the partition's are refused."""
    totals: dict[tuple[int, int, int, str], Decimal] = defaultdict(Decimal)
    descriptions: dict[tuple[int, int, int, str], str] = {}
    for number in sorted(outputs):
        for line in outputs[number]:
            if line.year != year:
                raise ReportContentError(
                    f"the run output of run {number} for company {company_id}, year {year} holds lines of year "
                    f"{line.year}. Fix: the document does not match its request; run the sync again"
                )
            key = (line.year, line.period, _line_number(line, company_id), line.code)
            totals[key] += line.value
            descriptions.setdefault(key, line.description)
    return [
        WageComponent(
            company_id,
            y,
            period,
            employee,
            code,
            descriptions[(y, period, employee, code)],
            value,
            keys.RUN_OUTPUT_SOURCE,
        )
        for (y, period, employee, code), value in sorted(totals.items())
    ]


def payslips_from_run_output(run: RunInfo, lines: list[RunOutputLine]) -> list[PayslipRow]:
    """nmbrs.payslips of one run from its run output: the wage codes per employee and period of
    the run, as the SOAP payslip report's lines (docs/nmbrs-api.md)."""
    return [
        PayslipRow(
            run.company_id,
            run.year,
            run.run_id,
            run.run_number,
            line.period,
            _line_number(line, run.company_id),
            line.code,
            line.description,
            line.value,
        )
        for line in lines
    ]


def _by_number(companies: Iterable[C], api: str) -> dict[int, C]:
    """Company number -> company of one API's listing; a number listed twice is refused."""
    found: dict[int, C] = {}
    for company in companies:
        number = id_join.company_number(company.number, company.name, api)
        if number in found:
            raise id_join.IdJoinError(
                f"listing companies: {api} lists two companies with company number {number}. Fix: give "
                "each company its own number in Nmbrs"
            )
        found[number] = company
    return found
