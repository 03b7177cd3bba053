"""Typed records of the sandbox's payroll world. Amounts are Decimal with two decimals."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Company:
    id: int
    number: int
    name: str
    period_type: str  # Month | Week4
    erp_entity: str
    has_pension: bool
    kvk_number: str
    phone_number: str
    fax_number: str
    email: str
    website: str


@dataclass(frozen=True)
class Employee:
    id: int
    company_id: int
    number: int
    first_name: str
    initials: str
    prefix: str
    last_name: str
    gender: str
    bsn: str
    birth_date: dt.date
    email_work: str
    start_year: int
    start_period: int
    end_year: int | None
    end_period: int | None
    monthly_salary: Decimal  # in the scenario's first year; raised 2.5% per later year
    tax_rate: Decimal
    created_at: dt.datetime

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.prefix, self.last_name) if part)

    def employed_in(self, year: int, period: int) -> bool:
        if (year, period) < (self.start_year, self.start_period):
            return False
        return self.end_year is None or (year, period) <= (self.end_year, self.end_period or 0)


@dataclass(frozen=True)
class RunInfo:
    id: int  # the SOAP run ID
    payroll_run_id: str  # the REST GUID
    company_id: int
    year: int
    number: int
    period_start: int
    period_end: int
    description: str
    run_at: dt.datetime
    type: str  # regular | correction
    locked: bool


@dataclass(frozen=True)
class Line:
    code: str
    description: str
    value: Decimal


@dataclass(frozen=True)
class EmployeePeriod:
    """One employee's wage-component lines for one period of one company-year."""

    company_id: int
    year: int
    period: int
    employee_id: int
    lines: tuple[Line, ...]
