"""The live payroll world: companies, employees, runs and wage components, generated lazily.

A company's employees and a company-year's runs are generated the first time they are asked for
and cached. Admin operations (`add_run`, `correct_period`) are the only way the data changes.
Corrections are stored as salary adjustments tagged with the correction run's number, so any
run's payslip can be recomputed as of that run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from pipelines.sandbox import generator
from pipelines.sandbox.calendars import period_end, periods_in_year
from pipelines.sandbox.model import Company, Employee, EmployeePeriod, Line, RunInfo
from pipelines.sandbox.scenarios import ScenarioConfig
from pipelines.sandbox.wages import cents, period_lines, salary_for

RUN_GUID_NAMESPACE = uuid.UUID("6f2b8a53-2f4c-4d0e-9a57-1d7e3c9b0a11")
DEMO_CORRECTION = {"company_id": 101, "period": 3, "after_period": 5, "delta": Decimal("150.00")}


class SandboxError(ValueError):
    """A request the world cannot satisfy; `code` is the Nmbrs fault code that matches it."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class CompanyYear:
    runs: list[RunInfo] = field(default_factory=list)
    # (period, employee_id) -> [(run number that made it, salary delta)]
    adjustments: dict[tuple[int, int], list[tuple[int, Decimal]]] = field(
        default_factory=lambda: defaultdict(list)
    )


class World:
    def __init__(self, config: ScenarioConfig):
        self.config = config
        self._lock = threading.RLock()
        self._companies = {c.id: c for c in generator.companies(config)}
        self._employees: dict[int, list[Employee]] = {}
        self._years: dict[tuple[int, int], CompanyYear] = {}
        self._runs_by_id: dict[int, RunInfo] = {}

    # companies and employees ---------------------------------------------------------------
    def companies(self) -> list[Company]:
        return list(self._companies.values())

    def company(self, company_id: int) -> Company:
        try:
            return self._companies[company_id]
        except KeyError:
            raise SandboxError(2004, f"No rights to company {company_id} (company not found)") from None

    def employees(self, company_id: int) -> list[Employee]:
        company = self.company(company_id)
        with self._lock:
            if company_id not in self._employees:
                self._employees[company_id] = generator.employees(self.config, company)
            return self._employees[company_id]

    def employee(self, company_id: int, employee_id: int) -> Employee:
        for employee in self.employees(company_id):
            if employee.id == employee_id:
                return employee
        raise SandboxError(2003, f"No rights to employee {employee_id} in company {company_id}")

    # runs --------------------------------------------------------------------------------
    def years(self, company_id: int) -> list[int]:
        self.company(company_id)
        with self._lock:
            added = {year for (cid, year) in self._years if cid == company_id}
        return sorted(set(range(self.config.first_year, self.config.as_of.year + 1)) | added)

    def runs(self, company_id: int, year: int) -> list[RunInfo]:
        with self._lock:
            runs = list(self._company_year(company_id, year).runs)
            last = self._last_run(company_id)
        return [dataclasses.replace(run, locked=run.id != last.id) if last else run for run in runs]

    def run(self, company_id: int, year: int, run_id: int) -> RunInfo:
        for run in self.runs(company_id, year):
            if run.id == run_id:
                return run
        raise SandboxError(2046, f"Run {run_id} not found for company {company_id} in {year}")

    def run_by_guid(self, company_id: int, payroll_run_id: str) -> RunInfo:
        for year in self.years(company_id):
            for run in self.runs(company_id, year):
                if run.payroll_run_id == payroll_run_id:
                    return run
        raise SandboxError(2046, f"Run {payroll_run_id} not found for company {company_id}")

    def _company_year(self, company_id: int, year: int) -> CompanyYear:
        key = (company_id, year)
        if key not in self._years:
            self._years[key] = self._generate_year(self.company(company_id), year)
        return self._years[key]

    def _generate_year(self, company: Company, year: int) -> CompanyYear:
        ledger = CompanyYear()
        self._years[(company.id, year)] = ledger
        for run_year, period in generator.run_periods(self.config, company):
            if run_year != year:
                continue
            self._append_regular_run(company, year, period, ledger)
            demo = DEMO_CORRECTION
            if (
                self.config.is_demo_world
                and company.id == demo["company_id"]
                and year == self.config.first_year
                and period == demo["after_period"]
            ):
                run_at = ledger.runs[-1].run_at + dt.timedelta(days=1, hours=4)
                self._append_correction(company, year, demo["period"], None, demo["delta"], run_at, ledger)
        return ledger

    def _new_run(
        self, company: Company, year: int, period: int, kind: str, run_at: dt.datetime, ledger: CompanyYear
    ) -> RunInfo:
        number = len(ledger.runs) + 1
        if number > 99:
            raise SandboxError(9999, f"company {company.id} already has 99 runs in {year}")
        label = "Correctie periode" if kind == "correction" else "Periode"
        run = RunInfo(
            id=company.id * 10_000 + (year % 100) * 100 + number,
            payroll_run_id=str(
                uuid.uuid5(RUN_GUID_NAMESPACE, f"{self.config.seed}:{company.id}:{year}:{number}")
            ),
            company_id=company.id,
            year=year,
            number=number,
            period_start=period,
            period_end=period,
            description=f"{label} {period} {year}",
            run_at=run_at,
            type=kind,
            locked=True,
        )
        ledger.runs.append(run)
        self._runs_by_id[run.id] = run
        return run

    def _append_regular_run(
        self,
        company: Company,
        year: int,
        period: int,
        ledger: CompanyYear,
        not_before: dt.datetime | None = None,
    ) -> RunInfo:
        run_at = dt.datetime.combine(
            period_end(company.period_type, year, period) - dt.timedelta(days=5), dt.time(10, 0)
        )
        if not_before and run_at <= not_before:
            run_at = not_before + dt.timedelta(hours=1)
        return self._new_run(company, year, period, "regular", run_at, ledger)

    def _append_correction(self, company, year, period, employee_id, delta, run_at, ledger) -> RunInfo:
        paid = [e for e in self.employees(company.id) if e.employed_in(year, period)]
        if employee_id is None:
            if not paid:
                raise SandboxError(
                    2046, f"nobody was paid in period {period} of {year} at company {company.id}"
                )
            employee_id = min(e.id for e in paid)
        elif employee_id not in {e.id for e in paid}:
            raise SandboxError(
                2003,
                f"employee {employee_id} was not paid in period {period} of {year} "
                f"at company {company.id}; pick an employee of that period",
            )
        run = self._new_run(company, year, period, "correction", run_at, ledger)
        ledger.adjustments[(period, employee_id)].append((run.number, cents(Decimal(delta))))
        return run

    def _last_run(self, company_id: int) -> RunInfo | None:
        for year in reversed(self.years(company_id)):
            runs = self._company_year(company_id, year).runs
            if runs:
                return max(runs, key=lambda r: (r.run_at, r.number))
        return None

    def _regular_periods(self, company_id: int, year: int) -> list[int]:
        return sorted(
            {r.period_start for r in self._company_year(company_id, year).runs if r.type == "regular"}
        )

    # admin changes -----------------------------------------------------------------------
    def add_run(self, company_id: int, year: int | None = None) -> RunInfo:
        company = self.company(company_id)
        count = periods_in_year(company.period_type)
        with self._lock:
            last = self._last_run(company_id)
            if year is None:
                year = max(self.years(company_id))
                if (
                    self._regular_periods(company_id, year)
                    and max(self._regular_periods(company_id, year)) >= count
                ):
                    year += 1
            ledger = self._company_year(company_id, year)
            done = self._regular_periods(company_id, year)
            period = (max(done) if done else 0) + 1
            if period > count:
                raise SandboxError(
                    2006,
                    f"company {company_id} has run all {count} periods of {year}; "
                    f"add a run for {year + 1} instead",
                )
            return self._append_regular_run(company, year, period, ledger, last.run_at if last else None)

    def correct_period(
        self,
        company_id: int,
        year: int,
        period: int,
        employee_id: int | None = None,
        delta: Decimal = Decimal("150.00"),
    ) -> RunInfo:
        company = self.company(company_id)
        with self._lock:
            ledger = self._company_year(company_id, year)
            if period not in self._regular_periods(company_id, year):
                raise SandboxError(
                    2006,
                    f"period {period} of {year} has no run at company {company_id} yet; "
                    "only a period that has been run can be corrected",
                )
            last = self._last_run(company_id)
            run_at = last.run_at + dt.timedelta(hours=1)
            return self._append_correction(company, year, period, employee_id, delta, run_at, ledger)

    # wage components ---------------------------------------------------------------------
    def _lines(
        self,
        company: Company,
        employee: Employee,
        year: int,
        period: int,
        ledger: CompanyYear,
        up_to_run: int | None,
    ) -> tuple[Line, ...]:
        salary = salary_for(employee.monthly_salary, company.period_type, year - self.config.first_year)
        for number, delta in ledger.adjustments.get((period, employee.id), ()):
            if up_to_run is None or number <= up_to_run:
                salary += delta
        return period_lines(salary, employee.tax_rate, company.has_pension)

    def period_report(self, company_id: int, year: int) -> list[EmployeePeriod]:
        """Latest (corrected) lines per employee and period for every period that has been run."""
        company = self.company(company_id)
        staff = self.employees(company_id)
        with self._lock:
            ledger = self._company_year(company_id, year)
            periods = self._regular_periods(company_id, year)
            return [
                EmployeePeriod(
                    company_id, year, period, e.id, self._lines(company, e, year, period, ledger, None)
                )
                for e in staff
                for period in periods
                if e.employed_in(year, period)
            ]

    def payslips(self, run: RunInfo) -> list[EmployeePeriod]:
        """A run's payslip lines: the period's lines (regular) or the differences it made (correction)."""
        company = self.company(run.company_id)
        staff = self.employees(run.company_id)
        with self._lock:
            ledger = self._company_year(run.company_id, run.year)
            period = run.period_start
            if run.type == "regular":
                return [
                    EmployeePeriod(
                        run.company_id,
                        run.year,
                        period,
                        e.id,
                        self._lines(company, e, run.year, period, ledger, run.number),
                    )
                    for e in staff
                    if e.employed_in(run.year, period)
                ]
            result = []
            for e in staff:
                if not any(n == run.number for n, _ in ledger.adjustments.get((period, e.id), ())):
                    continue
                after = self._lines(company, e, run.year, period, ledger, run.number)
                before = {
                    line.code: line.value
                    for line in self._lines(company, e, run.year, period, ledger, run.number - 1)
                }
                diffs = tuple(
                    Line(line.code, line.description, line.value - before.get(line.code, Decimal("0.00")))
                    for line in after
                    if line.value != before.get(line.code, Decimal("0.00"))
                )
                result.append(EmployeePeriod(run.company_id, run.year, period, e.id, diffs))
            return result

    def last_run(self, company_id: int, year: int, period: int, employee_id: int) -> RunInfo | None:
        """The run that last set an employee's lines of a period: its latest correction, or its regular run."""
        with self._lock:
            ledger = self._company_year(company_id, year)
            numbers = {n for n, _ in ledger.adjustments.get((period, employee_id), ())}
            numbers |= {r.number for r in ledger.runs if r.type == "regular" and r.period_start == period}
            runs = [r for r in ledger.runs if r.number in numbers]
        return max(runs, key=lambda r: (r.run_at, r.number)) if runs else None

    def changed_at(self, company_id: int, year: int, period: int, employee_id: int) -> dt.datetime | None:
        """When an employee's lines of a period last changed: its regular run, or its latest correction."""
        run = self.last_run(company_id, year, period, employee_id)
        return run.run_at if run else None
