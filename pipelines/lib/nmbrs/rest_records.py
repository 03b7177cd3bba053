"""Typed records of the Nmbrs REST API and the mappers that build them from its JSON (one place).

Ids are UUID strings, kept as text: REST and SOAP are two id spaces (docs/nmbrs-api.md), and
`id_join.py` is the one place that relates them. A company's `number` is a string, an employee's
an integer. Only the fields the product reads are mapped; every mapper accepts the vendor's own
examples (tests/contract). Amounts are Decimal (`json.loads(..., parse_float=Decimal)`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pipelines.lib.nmbrs.errors import NmbrsError


class RestMappingError(NmbrsError):
    """A REST item lacks a field the product needs, or holds a value of the wrong kind."""


@dataclass(frozen=True, slots=True)
class RestDebtor:
    debtor_id: str
    number: str
    name: str


@dataclass(frozen=True, slots=True)
class RestCompany:
    company_id: str
    number: str
    name: str
    debtor_id: str | None = None


@dataclass(frozen=True, slots=True)
class RestRun:
    company_id: str
    payroll_run_id: str
    number: int | None
    year: int
    period_start: int | None
    period_end: int | None
    description: str | None
    created_at: dt.datetime | None
    run_type: str | None  # the vendor's RunType: none, normal, normal_twk, twk, partial
    locked: bool | None


@dataclass(frozen=True, slots=True)
class RestEmployee:
    """`/employees`: the employee's basic info, and nothing else."""

    company_id: str
    employee_id: str
    employee_number: int | None
    first_name: str | None
    first_name_in_full: str | None
    prefix: str | None
    initials: str | None
    last_name: str | None
    employee_type: str | None


@dataclass(frozen=True, slots=True)
class RestPersonalInfo:
    """One record of an employee's personal-info history; the current one has the latest created_at."""

    company_id: str
    employee_id: str
    personal_info_id: str | None
    employee_number: int | None
    first_name: str | None
    prefix: str | None
    initials: str | None
    last_name: str | None
    gender: str | None
    year: int | None
    period: int | None
    created_at: dt.datetime | None
    birth_date: dt.date | None = field(default=None, repr=False)
    business_email: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class RestAssignment:
    """One entry of an employee's department or cost-centre history."""

    company_id: str
    employee_id: str
    kind: str  # department | cost_center
    assignment_id: str | None
    code: str
    description: str | None
    year: int | None
    period: int | None
    created_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class EnteredWageComponent:
    """A fixed or variable wage component as entered on an employee (input, not the computed result)."""

    company_id: str
    employee_id: str
    kind: str  # fixed | variable
    component_id: str | None
    code: str
    value: Decimal
    year: int  # the period asked for (the vendor's item carries no period of its own)
    period: int
    end_year: int | None
    end_period: int | None
    created_at: dt.datetime | None


def _required(item: dict, name: str, what: str) -> Any:
    value = item.get(name)
    if value in (None, ""):
        raise RestMappingError(
            f"a REST {what} has no {name!r}. Fix: the response does not match the vendor's contract; "
            "check NMBRS_REST_URL, or report the response shape (docs/nmbrs-api.md)"
        )
    return value


def _int_or_none(value: Any) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise RestMappingError(f"expected a whole number, got {value!r}")
    return int(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def parse_datetime(value: Any) -> dt.datetime | None:
    """An ISO date-time as naive UTC (the warehouse's `timestamp`), or None."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is None else parsed.astimezone(dt.UTC).replace(tzinfo=None)


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(str(value)[:10]) if value else None


def _period(item: dict) -> tuple[int | None, int | None]:
    period = item.get("period") if isinstance(item.get("period"), dict) else {}
    return _int_or_none(period.get("year")), _int_or_none(period.get("period"))


def debtor(item: dict) -> RestDebtor:
    return RestDebtor(
        str(_required(item, "debtorId", "debtor")), str(item.get("number") or ""), str(item.get("name") or "")
    )


def company(item: dict) -> RestCompany:
    return RestCompany(
        company_id=str(_required(item, "companyId", "company")),
        number=str(item.get("number") or ""),
        name=str(item.get("name") or ""),
        debtor_id=_text(item.get("debtorId")),
    )


def run(company_id: str, item: dict) -> RestRun:
    return RestRun(
        company_id=company_id,
        payroll_run_id=str(_required(item, "payrollRunId", "payroll run")),
        number=_int_or_none(item.get("number")),
        year=int(_required(item, "year", "payroll run")),
        period_start=_int_or_none(item.get("periodStart")),
        period_end=_int_or_none(item.get("periodEnd")),
        description=_text(item.get("description")),
        created_at=parse_datetime(item.get("createdAt")),
        run_type=_text(item.get("type")),
        locked=item.get("locked"),
    )


def _basic(item: dict) -> dict:
    return item if isinstance(item, dict) else {}


def employee(company_id: str, item: dict) -> RestEmployee:
    basic = _basic(item.get("employeeBasicInfo"))
    return RestEmployee(
        company_id=company_id,
        employee_id=str(_required(item, "employeeId", "employee")),
        employee_number=_int_or_none(basic.get("employeeNumber")),
        first_name=_text(basic.get("firstName")),
        first_name_in_full=_text(basic.get("firstNameInFull")),
        prefix=_text(basic.get("prefix")),
        initials=_text(basic.get("initials")),
        last_name=_text(basic.get("lastName")),
        employee_type=_text(basic.get("employeeType")),
    )


def personal_infos(company_id: str, item: dict) -> list[RestPersonalInfo]:
    """Every record of one employee's history (`{employeeId, info: [PersonalInfo...]}`)."""
    employee_id = str(_required(item, "employeeId", "personal-info item"))
    records = []
    for info in item.get("info") or []:
        basic = _basic(info.get("basicInfo"))
        birth = _basic(info.get("birthInfo"))
        contact = _basic(info.get("contactInfo"))
        year, period = _period(info)
        records.append(
            RestPersonalInfo(
                company_id=company_id,
                employee_id=employee_id,
                personal_info_id=_text(info.get("personalInfoId")),
                employee_number=_int_or_none(basic.get("employeeNumber")),
                first_name=_text(basic.get("firstName")),
                prefix=_text(basic.get("prefix")),
                initials=_text(basic.get("initials")),
                last_name=_text(basic.get("lastName")),
                gender=_text(birth.get("gender")),
                year=year,
                period=period,
                created_at=parse_datetime(info.get("createdAt")),
                birth_date=_date(birth.get("birthDate")),
                business_email=_text(contact.get("businessEmail")),
            )
        )
    return records


def current(history: list[RestPersonalInfo]) -> RestPersonalInfo | None:
    """The current record of a history: the latest createdAt (not the last in the list)."""
    return max(history, key=lambda r: r.created_at or dt.datetime.min, default=None)


def _assignments(company_id: str, item: dict, kind: str, list_key: str, target) -> list[RestAssignment]:
    """One employee's history of a kind; `target(entry)` is the dict holding the id, code and description."""
    employee_id = str(_required(item, "employeeId", f"{kind} item"))
    result = []
    for entry in item.get(list_key) or []:
        found, id_key = target(entry)
        year, period = _period(entry)
        result.append(
            RestAssignment(
                company_id,
                employee_id,
                kind,
                _text(found.get(id_key)),
                str(_required(found, "code", kind)),
                _text(found.get("description")),
                year,
                period,
                parse_datetime(entry.get("createdAt")),
            )
        )
    return result


def departments(company_id: str, item: dict) -> list[RestAssignment]:
    return _assignments(company_id, item, "department", "departments", lambda e: (e, "departmentId"))


def cost_centers(company_id: str, item: dict) -> list[RestAssignment]:
    return _assignments(
        company_id,
        item,
        "cost_center",
        "employeeCostCenters",
        lambda e: (_basic(e.get("costCenters")), "costCenterId"),
    )


WAGE_COMPONENT_KEYS = {  # list key and id key per kind, spelled as the vendor spells them
    "fixed": ("fixedWageComponents", "fixedWageComponentId"),
    "variable": ("variablewagecomponents", "variableWageComponentId"),
}


def entered_wage_components(
    company_id: str, kind: str, year: int, period: int, item: dict
) -> list[EnteredWageComponent]:
    list_key, id_key = WAGE_COMPONENT_KEYS[kind]
    employee_id = str(_required(item, "employeeId", f"{kind} wage-component item"))
    return [
        EnteredWageComponent(
            company_id=company_id,
            employee_id=employee_id,
            kind=kind,
            component_id=_text(entry.get(id_key)),
            code=str(_required(entry, "code", f"{kind} wage component")),
            value=Decimal(str(_required(entry, "value", f"{kind} wage component"))),
            year=year,
            period=period,
            end_year=_int_or_none(entry.get("endYear")),
            end_period=_int_or_none(entry.get("endPeriod")),
            created_at=parse_datetime(entry.get("createdAt")),
        )
        for entry in item.get(list_key) or []
    ]


# The vendor's CompanyPeriodType in the warehouse's spelling (SOAP's period types, which the marts'
# period calendars use). `1-week` -> `Week` is modeled: the product's calendars know Month and Week4.
PERIOD_TYPES = {"month": "Month", "4-weeks": "Week4", "1-week": "Week"}


def period_type(item: dict) -> str:
    """The period type of a `CompanyPeriod` (`/api/companies/{companyId}/period`), as SOAP spells it."""
    raw = str(_required(item, "periodType", "company period"))
    if raw not in PERIOD_TYPES:
        raise RestMappingError(
            f"a REST company period has periodType {raw!r}, not one of {', '.join(PERIOD_TYPES)}. Fix: the "
            "response does not match the vendor's contract; check NMBRS_REST_URL"
        )
    return PERIOD_TYPES[raw]


def task_id(body: Any, what: str) -> str:
    """The `taskId` of a document request's answer."""
    if not isinstance(body, dict) or not body.get("taskId"):
        raise RestMappingError(
            f"{what}: the answer holds no taskId. Fix: the response does not match the vendor's contract; "
            "check NMBRS_REST_URL"
        )
    return str(body["taskId"])
