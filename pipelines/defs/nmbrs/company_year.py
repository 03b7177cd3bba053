"""Load one company-year of Nmbrs payroll data: runs, wage components, payslips, coverage, drift.

Order matters for "a failed run leaves the previous partition intact": every table is replaced
atomically on its own (warehouse.replace_partition), and `nmbrs.payroll_runs` is written last, so
that it only ever lists runs whose payslips and wage components are in the warehouse. Every report
task of the partition is started first and awaited together: Nmbrs works on them concurrently.

The steps, in order: plan (what Nmbrs lists against what the warehouse holds), start the reports,
payslips, wage components and coverage, journals (REST documents of new/changed runs), schema
drift, runs. Each writes through one `Loader` bound to
the partition, the API source and the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import dagster as dg

from pipelines.defs import keys
from pipelines.defs.nmbrs import state, tables
from pipelines.defs.nmbrs.source import (
    NmbrsSession,
    payslips_from_run_output,
    wage_components_from_run_outputs,
)
from pipelines.defs.nmbrs.tables import CoverageRow, DriftRow, JournalRow, Loader, PayslipRow
from pipelines.lib import warehouse
from pipelines.lib.nmbrs.errors import NmbrsError, ReportContentError
from pipelines.lib.nmbrs.records import RunInfo, WageComponent
from pipelines.lib.nmbrs.reports import DriftRecorder, ReportLine

WAGE_REPORT_TASK = "wage_components"
_REPORT_NAMES = {"period": "wage-component report", "payslip": "payslip report"}


@dataclass
class TableOutcome:
    rows: int = 0  # rows the partition holds after this load
    rows_loaded: int = 0  # rows written by this load (0 when the partition was already current)
    changed: bool = False
    detail: dict[str, object] = field(default_factory=dict)


@dataclass
class CompanyYearOutcome:
    company_id: int
    year: int
    tables: dict[dg.AssetKey, TableOutcome] = field(default_factory=dict)
    drift: dict[str, int] = field(default_factory=dict)


def load_company_year(
    session: NmbrsSession,
    conn,
    company_id: int,
    year: int,
    *,
    selected: frozenset[dg.AssetKey] = frozenset(keys.COMPANY_YEAR_ASSETS),
    refresh: bool = False,
    run_id: str | None = None,
) -> CompanyYearOutcome:
    load = _CompanyYearLoad.begin(session, conn, company_id, year, selected, refresh, run_id)
    outcome = CompanyYearOutcome(company_id, year)
    tasks = load.start_reports()
    if keys.PAYSLIPS in selected:
        outcome.tables[keys.PAYSLIPS] = load.payslips(tasks)
    if load.want_wage_components:
        wage, coverage = load.wage_components(tasks)
        if keys.WAGE_COMPONENTS in selected:
            outcome.tables[keys.WAGE_COMPONENTS] = wage
        if keys.SOURCE_COVERAGE in selected:
            outcome.tables[keys.SOURCE_COVERAGE] = coverage
    if keys.JOURNALS in selected:
        outcome.tables[keys.JOURNALS] = load.journals()
    outcome.drift = load.schema_drift(tasks)
    if keys.PAYROLL_RUNS in selected or load.want_payslips:
        runs = load.runs()
        if keys.PAYROLL_RUNS in selected:
            outcome.tables[keys.PAYROLL_RUNS] = runs
    return outcome


@dataclass
class _CompanyYearLoad:
    session: NmbrsSession
    loader: Loader  # bound to this company-year, the API source and the run
    selected: frozenset[dg.AssetKey]
    refresh: bool
    current_runs: list[RunInfo]  # what Nmbrs lists now
    coverage: CoverageRow  # what this mode delivers
    plan: state.CompanyYearPlan
    drift: DriftRecorder = field(default_factory=DriftRecorder)
    outputs: dict[int, list] = field(default_factory=dict)  # REST run output lines by run number

    @classmethod
    def begin(
        cls,
        session: NmbrsSession,
        conn,
        company_id: int,
        year: int,
        selected: frozenset[dg.AssetKey],
        refresh: bool,
        run_id: str | None,
    ) -> _CompanyYearLoad:
        """What Nmbrs lists now against what the warehouse holds: which reports to fetch."""
        current_runs = session.runs(company_id, year)
        coverage = CoverageRow(
            company_id, year, session.source_mode, session.wage_component_source, session.coverage
        )
        plan = state.plan_company_year(
            current_runs,
            state.loaded_runs(conn, company_id, year),
            state.payslip_line_counts(conn, company_id, year),
            wage_components_loaded=state.loaded_coverage(conn, company_id, year) == coverage,
            refresh=refresh,
            journal_counts=state.payslip_line_counts(conn, company_id, year, tables.JOURNALS),
        )
        loader = Loader(conn, session.api_source, run_id, {"company_id": company_id, "year": year})
        return cls(session, loader, selected, refresh, current_runs, coverage, plan)

    @property
    def company_id(self) -> int:
        return self.coverage.company_id

    @property
    def year(self) -> int:
        return self.coverage.year

    @property
    def want_payslips(self) -> bool:
        return keys.PAYSLIPS in self.selected and self.session.has_payslips

    @property
    def want_wage_components(self) -> bool:
        return keys.WAGE_COMPONENTS in self.selected or keys.SOURCE_COVERAGE in self.selected

    @property
    def conn(self):
        return self.loader.conn

    @property
    def payslip_runs(self) -> tuple[RunInfo, ...]:
        return self.plan.payslip_runs if self.want_payslips else ()

    @property
    def fetch_wage_components(self) -> bool:
        return self.want_wage_components and self.plan.fetch_wage_components

    @property
    def from_soap(self) -> bool:
        return self.session.wage_components_from_soap

    def start_reports(self) -> dict[str, str]:
        """Start every report or document task of this partition, then wait for them together.

        soap: the wage-component report and the payslip report of every new or changed run ({name:
        task id}). rest, rest+soap: the run output of every run when the wage components are
        (re)loaded, else of the new or changed runs only; kept in `self.outputs` by run number."""
        runs = self.payslip_runs
        tasks: dict[str, str] = {}
        if not self.from_soap:
            wanted = self.current_runs if self.fetch_wage_components else list(runs)
            self.outputs = self.session.run_outputs(self.company_id, wanted, self.drift)
            return {_run_task(run): run.run_id for run in wanted}
        soap_company = (
            self.session.soap_company_id(self.company_id) if runs or self.fetch_wage_components else 0
        )
        if self.fetch_wage_components:
            tasks[WAGE_REPORT_TASK] = self.session.soap.start_wage_component_report(soap_company, self.year)
        for run in runs:
            tasks[_run_task(run)] = self.session.soap.start_payslip_report(
                soap_company, run.soap_run_id or run.run_id, self.year
            )
        if tasks:
            self.session.employee_numbers(self.company_id)  # the key of the reports' lines, asked first
            self.session.soap.wait_for_reports(list(tasks.values()))
        return tasks

    def payslips(self, tasks: dict[str, str]) -> TableOutcome:
        """One run at a time, each run its own atomic replace; runs gone from Nmbrs lose their payslips."""
        if not self.want_payslips:
            return TableOutcome(
                detail={"unavailable": f"payslips are not loaded in source mode {self.session.source_mode}"}
            )
        payslips = TableOutcome(detail={"runs_fetched": len(self.payslip_runs)})
        for run in self.payslip_runs:
            if not self.from_soap:
                payslips.rows_loaded += self.loader.replace(
                    tables.PAYSLIPS,
                    PayslipRow,
                    payslips_from_run_output(run, self.outputs[run.run_number]),
                    run_number=run.run_number,
                )
                continue
            payslips.rows_loaded += self._load_report(
                tasks[_run_task(run)],
                "payslip",
                run,
                lambda lines, run=run: self.loader.replace(
                    tables.PAYSLIPS,
                    PayslipRow,
                    _payslip_rows(lines, run, self._employee_numbers),
                    run_number=run.run_number,
                ),
            )
        for number in self.plan.dropped_run_numbers:
            self.loader.replace(tables.PAYSLIPS, PayslipRow, [], run_number=number)
        payslips.changed = bool(self.payslip_runs or self.plan.dropped_run_numbers)
        payslips.rows = sum(state.payslip_line_counts(self.conn, self.company_id, self.year).values())
        payslips.detail["runs_dropped"] = len(self.plan.dropped_run_numbers)
        return payslips

    def _employee_numbers(self) -> dict[int, int]:
        """SOAP employee id -> employee number, asked of the session when a SOAP report is read."""
        return self.session.employee_numbers(self.company_id)

    def wage_components(self, tasks: dict[str, str]) -> tuple[TableOutcome, TableOutcome]:
        """The wage components (the SOAP report, or the REST run outputs summed per period) and
        their coverage row."""
        wage = TableOutcome()
        if self.fetch_wage_components and self.from_soap:
            wage.rows_loaded = self._load_report(
                tasks[WAGE_REPORT_TASK],
                "period",
                None,
                lambda lines: self.loader.replace(
                    tables.WAGE_COMPONENTS,
                    WageComponent,
                    _report_rows(
                        lines, self.company_id, self.year, len(self.current_runs), self._employee_numbers
                    ),
                ),
            )
            wage.changed = True
        elif self.fetch_wage_components:
            rows = wage_components_from_run_outputs(self.company_id, self.year, self.outputs)
            if not rows and self.current_runs:
                raise ReportContentError(
                    f"the run outputs of company {self.company_id}, year {self.year} hold no wage component "
                    f"although Nmbrs lists {len(self.current_runs)} payroll run(s) for that year; nothing was "
                    "loaded and the previous rows are kept. Fix: run the sync again later; if it stays empty, "
                    "check the runs in Nmbrs"
                )
            wage.rows_loaded = self.loader.replace(
                tables.WAGE_COMPONENTS, WageComponent, [tables.as_tuple(row) for row in rows]
            )
            wage.changed = True
        wage.rows = state.wage_component_count(self.conn, self.company_id, self.year)
        coverage = TableOutcome(rows=1, detail={"coverage": self.coverage.coverage})
        if wage.changed or state.loaded_coverage(self.conn, self.company_id, self.year) != self.coverage:
            coverage.rows_loaded = self.loader.replace(
                tables.SOURCE_COVERAGE, CoverageRow, [tables.as_tuple(self.coverage)]
            )
            coverage.changed = True
        return wage, coverage

    def journals(self) -> TableOutcome:
        """The journals (keys.JOURNAL_VARIANTS) of new or changed runs, each run its own atomic
        replace; runs gone from Nmbrs lose their journals. Journals are REST documents: none in soap mode."""
        if not self.session.has_journals:
            return TableOutcome(
                detail={
                    "unavailable": f"journals come from the REST API; source mode {self.session.source_mode}"
                }
            )
        runs = self.plan.journal_runs
        journals = TableOutcome(detail={"runs_fetched": len(runs)})
        by_run: dict[int, list[JournalRow]] = {run.run_number: [] for run in runs}
        for row in self.session.journals(self.company_id, runs, keys.JOURNAL_VARIANTS):
            by_run[row.run_number].append(row)
        for number, rows in sorted(by_run.items()):
            journals.rows_loaded += self.loader.replace(tables.JOURNALS, JournalRow, rows, run_number=number)
        for number in self.plan.dropped_journal_runs:
            self.loader.replace(tables.JOURNALS, JournalRow, [], run_number=number)
        journals.changed = bool(runs or self.plan.dropped_journal_runs)
        journals.rows = sum(
            state.payslip_line_counts(self.conn, self.company_id, self.year, tables.JOURNALS).values()
        )
        return journals

    def schema_drift(self, tasks: dict[str, str]) -> dict[str, int]:
        """Element names and counts of the reports read now (never values); kept when none was read."""
        found = self.drift.as_dict()
        if tasks:
            self.loader.replace(
                tables.SCHEMA_DRIFT,
                DriftRow,
                [DriftRow(element, count) for element, count in found.items()],
                asset=keys.COMPANY_YEAR_DRIFT,
            )
        return found

    def runs(self) -> TableOutcome:
        """The runs last: they mark what is now completely loaded."""
        runs = TableOutcome(rows=len(self.current_runs))
        if self.plan.runs_changed:
            runs.rows_loaded = self.loader.replace(
                tables.PAYROLL_RUNS, RunInfo, [tables.as_tuple(run) for run in self.current_runs]
            )
            runs.changed = True
        return runs

    def _load_report(
        self, task_id: str, kind: str, run: RunInfo | None, load: Callable[[Iterator[ReportLine]], int]
    ) -> int:
        try:
            rows, found = self.session.soap.load_report(
                task_id, load, kind=kind, year=self.year, run_id=run.run_id if run else None
            )
        except warehouse.DuplicateKeyError as exc:  # a repeated block: a retry fetches the same report
            raise ReportContentError(f"the {_REPORT_NAMES[kind]}: {exc}") from exc
        except warehouse.WarehouseLoadError as exc:
            cause = exc.__cause__
            if isinstance(cause, ReportContentError):  # bad content: a retry fetches the same report
                raise ReportContentError(str(exc)) from exc
            if isinstance(cause, NmbrsError) and not cause.retryable:  # e.g. past the report deadline
                raise NmbrsError(str(exc)) from exc
            raise
        for element, occurrences in found.as_dict().items():
            self.drift.record(element, occurrences)
        return rows


def _run_task(run: RunInfo) -> str:
    return f"run:{run.run_number}"


def _employee_key(employee_id: int, numbers: Callable[[], dict[int, int]], company_id: int, what: str) -> int:
    """The employee number of a SOAP report's employee id (the warehouse's employee key)."""
    try:
        return numbers()[employee_id]
    except KeyError:
        raise ReportContentError(
            f"the {what} for company {company_id} holds SOAP employee {employee_id}, whom the employee listing "
            "(PersonalInfo) does not hold, so the line cannot be keyed on an employee number. Fix: run the sync "
            "again; if it persists, check the employee in Nmbrs"
        ) from None


def _report_rows(
    lines: Iterator[ReportLine], company_id: int, year: int, runs: int, numbers: Callable[[], dict[int, int]]
) -> Iterator[tuple]:
    count = 0
    for line in lines:
        count += 1
        yield (
            company_id,
            line.year,
            line.period,
            _employee_key(line.employee_id, numbers, company_id, "wage-component report"),
            line.code,
            line.description,
            line.value,
            keys.SOAP_REPORT_SOURCE,
        )
    if count == 0 and runs:
        # Raised inside the COPY, so the load rolls back: an empty answer never wipes a loaded year.
        raise ReportContentError(
            f"the wage-component report for company {company_id}, year {year} is empty although Nmbrs lists "
            f"{runs} payroll run(s) for that year. Fix: run the sync again later; if it stays empty, open "
            "the report in Nmbrs (Reports > Accountant > wage components per period), check the company, "
            "and check that the report's shape is the one described in docs/nmbrs-api-soap.md"
        )


def _payslip_rows(
    lines: Iterator[ReportLine], run: RunInfo, numbers: Callable[[], dict[int, int]]
) -> Iterator[tuple]:
    count = 0
    for line in lines:
        _check_partition(line.year, run.year, f"payslip report of run {run.run_number}", run.company_id)
        count += 1
        yield (
            run.company_id,
            run.year,
            run.run_id,
            run.run_number,
            line.period,
            _employee_key(
                line.employee_id, numbers, run.company_id, f"payslip report of run {run.run_number}"
            ),
            line.code,
            line.description,
            line.value,
        )
    if count == 0:
        # Raised inside the COPY, so the load rolls back: an empty answer never wipes a loaded run.
        raise ReportContentError(
            f"the payslip report of run {run.run_number} ({run.description or run.run_id}) for company "
            f"{run.company_id}, year {run.year} holds no payslip lines. Fix: run the sync again later; if it "
            "stays empty, open the run's payslips in Nmbrs and check that the report's shape is the "
            "`<payslip>` shape described in docs/nmbrs-api-soap.md"
        )


def _check_partition(found: int, expected: int, what: str, company_id: int) -> None:
    if found != expected:
        raise ReportContentError(
            f"the {what} for company {company_id}, year {expected} holds lines of year {found}. "
            "Fix: the report does not match its request; run the sync again or check the report in Nmbrs"
        )
