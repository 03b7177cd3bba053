"""Load one company-year of Nmbrs payroll data: runs, wage components, payslips, coverage, drift.

Order matters for "a failed run leaves the previous partition intact": every table is replaced
atomically on its own (warehouse.replace_partition), and `nmbrs.payroll_runs` is written last, so
that it only ever lists runs whose payslips and wage components are in the warehouse. Every report
task of the partition is started first and awaited together: Nmbrs works on them concurrently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pipelines.defs.nmbrs import state, tables
from pipelines.defs.nmbrs.source import NmbrsSession
from pipelines.defs.nmbrs.tables import CoverageRow, PayslipRow
from pipelines.lib import warehouse
from pipelines.lib.nmbrs.errors import ReportContentError
from pipelines.lib.nmbrs.records import RunInfo, WageComponent
from pipelines.lib.nmbrs.reports import DriftRecorder, ReportLine

PAYROLL_RUNS = "payroll_runs"
WAGE_COMPONENTS = "wage_components"
PAYSLIPS = "payslips"
SOURCE_COVERAGE = "source_coverage"
ALL_TABLES = frozenset({PAYROLL_RUNS, WAGE_COMPONENTS, PAYSLIPS, SOURCE_COVERAGE})
SOAP_REPORT_SOURCE = "soap_period_report"


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
    tables: dict[str, TableOutcome] = field(default_factory=dict)
    drift: dict[str, int] = field(default_factory=dict)


def load_company_year(
    session: NmbrsSession,
    conn,
    company_id: int,
    year: int,
    *,
    selected: frozenset[str] = ALL_TABLES,
    refresh: bool = False,
    run_id: str | None = None,
) -> CompanyYearOutcome:
    outcome = CompanyYearOutcome(company_id, year)
    where = {"company_id": company_id, "year": year}
    source = session.api_source
    drift = DriftRecorder()

    current_runs = session.runs(company_id, year)
    loaded_runs = state.loaded_runs(conn, company_id, year)
    coverage = CoverageRow(
        company_id, year, session.source_mode, session.wage_component_source, session.coverage
    )
    plan = state.plan_company_year(
        current_runs,
        loaded_runs,
        state.payslip_line_counts(conn, company_id, year),
        wage_components_loaded=state.loaded_coverage(conn, company_id, year) == coverage,
        refresh=refresh,
    )
    want_payslips = PAYSLIPS in selected and session.has_payslips
    want_wage_components = WAGE_COMPONENTS in selected or SOURCE_COVERAGE in selected

    # 1. Start every report task of this partition, then wait for them together.
    tasks: dict[str, str] = {}
    payslip_runs = plan.payslip_runs if want_payslips else ()
    soap_ids = session.soap_run_ids(company_id, year, payslip_runs) if payslip_runs else {}
    fetch_report = want_wage_components and session.wage_components_from_soap and plan.fetch_wage_components
    if fetch_report:
        tasks[WAGE_COMPONENTS] = session.start_wage_component_report(company_id, year)
    for run in payslip_runs:
        tasks[f"run:{run.run_number}"] = session.start_payslip_report(
            company_id, soap_ids[run.run_number], year
        )
    if tasks:
        session.wait_for_reports(list(tasks.values()))

    # 2. Payslips, one run at a time (each run its own atomic replace).
    if want_payslips:
        payslips = TableOutcome(detail={"runs_fetched": len(payslip_runs)})
        for run in payslip_runs:
            payslips.rows_loaded += _load_report(
                session,
                tasks[f"run:{run.run_number}"],
                "payslip",
                run,
                year,
                drift,
                lambda lines, run=run: warehouse.replace_partition(
                    conn,
                    tables.PAYSLIPS,
                    {**where, "run_number": run.run_number},
                    tables.columns(PayslipRow),
                    _payslip_rows(lines, run),
                    source=source,
                    run_id=run_id,
                ),
            )
        for number in plan.dropped_run_numbers:
            warehouse.replace_partition(
                conn,
                tables.PAYSLIPS,
                {**where, "run_number": number},
                tables.columns(PayslipRow),
                [],
                source=source,
                run_id=run_id,
            )
        payslips.changed = bool(payslip_runs or plan.dropped_run_numbers)
        payslips.rows = sum(state.payslip_line_counts(conn, company_id, year).values())
        payslips.detail["runs_dropped"] = len(plan.dropped_run_numbers)
        outcome.tables[PAYSLIPS] = payslips
    elif PAYSLIPS in selected:
        outcome.tables[PAYSLIPS] = TableOutcome(
            detail={"unavailable": f"payslips come from the SOAP API; source mode {session.source_mode}"}
        )

    # 3. Wage components and their coverage.
    if want_wage_components:
        wage = TableOutcome()
        if fetch_report:
            wage.rows_loaded = _load_report(
                session,
                tasks[WAGE_COMPONENTS],
                "period",
                None,
                year,
                drift,
                lambda lines: warehouse.replace_partition(
                    conn,
                    tables.WAGE_COMPONENTS,
                    where,
                    tables.columns(WageComponent),
                    _report_rows(lines, company_id, year, len(current_runs)),
                    source=source,
                    run_id=run_id,
                ),
            )
            wage.changed = True
        elif not session.wage_components_from_soap:
            rows = [tables.as_tuple(row) for row in session.rest_wage_components(company_id, year)]
            if refresh or not state.same_rows(
                conn, tables.WAGE_COMPONENTS, where, tables.columns(WageComponent), rows
            ):
                wage.rows_loaded = warehouse.replace_partition(
                    conn,
                    tables.WAGE_COMPONENTS,
                    where,
                    tables.columns(WageComponent),
                    rows,
                    source=source,
                    run_id=run_id,
                )
                wage.changed = True
        wage.rows = state.wage_component_count(conn, company_id, year)
        if WAGE_COMPONENTS in selected:
            outcome.tables[WAGE_COMPONENTS] = wage
        coverage_outcome = TableOutcome(rows=1, detail={"coverage": coverage.coverage})
        if wage.changed or state.loaded_coverage(conn, company_id, year) != coverage:
            coverage_outcome.rows_loaded = warehouse.replace_partition(
                conn,
                tables.SOURCE_COVERAGE,
                where,
                tables.columns(CoverageRow),
                [tables.as_tuple(coverage)],
                source=source,
                run_id=run_id,
            )
            coverage_outcome.changed = True
        if SOURCE_COVERAGE in selected:
            outcome.tables[SOURCE_COVERAGE] = coverage_outcome

    # 4. Schema drift of the reports read now (element names and counts only).
    outcome.drift = drift.as_dict()
    if tasks:
        warehouse.replace_partition(
            conn,
            tables.SCHEMA_DRIFT,
            {"asset": "nmbrs/company_year", **where},
            ("element", "occurrences"),
            sorted(outcome.drift.items()),
            source=source,
            run_id=run_id,
        )

    # 5. The runs last: they mark what is now completely loaded.
    if PAYROLL_RUNS in selected or want_payslips:
        runs = TableOutcome(rows=len(current_runs))
        if plan.runs_changed:
            runs.rows_loaded = warehouse.replace_partition(
                conn,
                tables.PAYROLL_RUNS,
                where,
                tables.columns(RunInfo),
                [tables.as_tuple(run) for run in current_runs],
                source=source,
                run_id=run_id,
            )
            runs.changed = True
        if PAYROLL_RUNS in selected:
            outcome.tables[PAYROLL_RUNS] = runs
    return outcome


def _load_report(
    session: NmbrsSession,
    task_id: str,
    kind: str,
    run: RunInfo | None,
    year: int,
    drift: DriftRecorder,
    load: Callable[[Iterator[ReportLine]], int],
) -> int:
    try:
        rows, found = session.load_report(
            task_id, load, kind=kind, year=year, run_id=run.run_id if run else None
        )
    except warehouse.WarehouseLoadError as exc:
        if isinstance(exc.__cause__, ReportContentError):  # bad content: a retry fetches the same report
            raise ReportContentError(str(exc)) from exc
        raise
    for element, occurrences in found.as_dict().items():
        drift.record(element, occurrences)
    return rows


def _report_rows(lines: Iterator[ReportLine], company_id: int, year: int, runs: int) -> Iterator[tuple]:
    count = 0
    for line in lines:
        count += 1
        yield (
            company_id,
            line.year,
            line.period,
            line.employee_id,
            line.code,
            line.description,
            line.value,
            SOAP_REPORT_SOURCE,
        )
    if count == 0 and runs:
        # Raised inside the COPY, so the load rolls back: an empty answer never wipes a loaded year.
        raise ReportContentError(
            f"the wage-component report for company {company_id}, year {year} is empty although Nmbrs lists "
            f"{runs} payroll run(s) for that year. Fix: run the sync again later; if it stays empty, open "
            "the report in Nmbrs (Reports > Accountant > wage components per period), check the company, "
            "and check that the report's shape is the one described in docs/nmbrs-api-soap.md"
        )


def _payslip_rows(lines: Iterator[ReportLine], run: RunInfo) -> Iterator[tuple]:
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
            line.employee_id,
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
