"""Typed records returned by the SOAP and REST clients (one shape whatever the source).

Keys (docs/nmbrs-api.md): as the SOAP client returns them, `company_id`/`employee_id`/`run_id` are
SOAP's own ids; the session (pipelines/defs/nmbrs/source.py) turns them into the warehouse keys (the
company number, the employee number, the run's (year, number)) and keeps the API ids in
`soap_*_id`/`rest_*_id`.

Personal data (BSN, birth date, work e-mail) is kept apart in `PersonalData`, whose repr hides it,
so that it only reaches the restricted schema when PAYROLL_STORE_PERSONAL_DATA is set.
`ROW_COLUMNS` gives each record's column order in its raw table (docs/design.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterable
from dataclasses import astuple, dataclass, field
from decimal import Decimal
from typing import TypeVar

from pipelines.lib.nmbrs.errors import NmbrsError

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Environment:
    domain: str
    subdomain: str | None = None


@dataclass(frozen=True, slots=True)
class Company:
    company_id: int
    number: str
    name: str
    period_type: str | None = None
    kvk_number: str | None = None
    phone_number: str | None = None
    email: str | None = None
    website: str | None = None
    soap_company_id: int | None = None  # the API ids, each filled by the API that listed the company
    rest_company_id: str | None = None


@dataclass(frozen=True, slots=True)
class RunInfo:
    company_id: int
    year: int
    run_id: str
    run_number: int | None
    period_start: int | None
    period_end: int | None
    description: str | None = None
    run_at: dt.datetime | None = None
    is_locked: bool | None = None
    run_type: str | None = None
    soap_run_id: str | None = None
    rest_run_id: str | None = None


@dataclass(frozen=True, slots=True)
class Employee:
    company_id: int
    employee_id: int
    employee_number: str
    display_name: str | None = None
    first_name: str | None = None
    initials: str | None = None
    prefix: str | None = None
    last_name: str | None = None
    gender: str | None = None
    start_period: int | None = None
    start_year: int | None = None
    creation_date: dt.datetime | None = None
    soap_employee_id: int | None = None
    rest_employee_id: str | None = None


@dataclass(frozen=True, slots=True)
class PersonalData:
    company_id: int
    employee_id: int
    bsn: str | None = field(default=None, repr=False)
    birth_date: dt.date | None = field(default=None, repr=False)
    email_work: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class WageComponent:
    company_id: int
    year: int
    period: int
    employee_id: int
    code: str
    description: str
    value: Decimal
    source: str


ROW_COLUMNS: dict[type, tuple[str, ...]] = {
    Environment: ("domain", "subdomain"),
    Company: (
        "company_id",
        "company_number",
        "name",
        "period_type",
        "kvk_number",
        "phone_number",
        "email",
        "website",
        "soap_company_id",
        "rest_company_id",
    ),
    RunInfo: (
        "company_id",
        "year",
        "run_id",
        "run_number",
        "period_start",
        "period_end",
        "description",
        "run_at",
        "is_locked",
        "run_type",
        "soap_run_id",
        "rest_run_id",
    ),
    Employee: (
        "company_id",
        "employee_id",
        "employee_number",
        "display_name",
        "first_name",
        "initials",
        "prefix",
        "last_name",
        "gender",
        "start_period",
        "start_year",
        "creation_date",
        "soap_employee_id",
        "rest_employee_id",
    ),
    PersonalData: ("company_id", "employee_id", "bsn", "birth_date", "email_work"),
    WageComponent: ("company_id", "year", "period", "employee_id", "code", "description", "value", "source"),
}


def as_row(record) -> tuple:
    """The record as a tuple in ROW_COLUMNS[type(record)] order, for warehouse.replace_partition."""
    return astuple(record)


class DuplicateIdError(NmbrsError):
    """A listing holds one id twice with different content: which one is Nmbrs's is unknowable."""


def unique_by_id(items: Iterable[R], key: Callable[[R], Hashable], what: str, label: str) -> list[R]:
    """The items of a listing once per id, in order. A repeat of an item with the same content is
    dropped (a hostile or broken answer that repeats one company 593,471 times loads it once); one
    id with different content is refused with DuplicateIdError naming the listing and the id."""
    seen: dict[Hashable, R] = {}
    for item in items:
        ident = key(item)
        first = seen.setdefault(ident, item)
        if first is not item and first != item:
            raise DuplicateIdError(
                f"{what}: Nmbrs's answer lists {label} {ident!r} twice with different content, so neither "
                "can be trusted; nothing was loaded and the previous rows are kept. Fix: run the sync again; "
                "if it persists, report it to Nmbrs support with the listing and the id"
            )
    return list(seen.values())
