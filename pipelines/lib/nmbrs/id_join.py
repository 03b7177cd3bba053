"""Where REST and SOAP rows of one Nmbrs company meet: the join on documented keys, in one place.

REST identifies companies, employees and runs by UUID strings, SOAP by integers, and neither API
accepts the other's ids (docs/nmbrs-api.md). Rows seen through both are related by keys that both
APIs carry. No public source states these keys, so they are **modeled** here, and only here:
- a company by its number (REST `number`, a string; SOAP `Company.Number`, an integer);
- an employee by its employee number (REST `employeeBasicInfo.employeeNumber`; SOAP
  `PersonalInfo_V2.EmployeeNumber`) within the company;
- a payroll run by (year, run number) within the company.
`join_ids` pairs every REST item with its SOAP counterpart and refuses an ambiguous or missing match.
The warehouse keys on these (company_id = the company number, employee_id = the employee number);
`company_number`/`employee_number` turn them into integers, refusing one that is not whole.
`rest_run_as_run_info` turns a REST run into the raw tables' RunInfo on the company number.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TypeVar

from pipelines.lib.nmbrs.errors import NmbrsError
from pipelines.lib.nmbrs.records import RunInfo
from pipelines.lib.nmbrs.rest_records import RestRun

R = TypeVar("R")
S = TypeVar("S")
JOIN_KEYS = {"company": "company number", "employee": "employee number", "run": "year and run number"}
# The vendor's run types in the product's words (modeled: `twk` is a retroactive correction run).
RUN_TYPES = {"normal": "regular", "twk": "correction"}


class IdJoinError(NmbrsError):
    """REST and SOAP disagree on which companies, employees or runs exist."""


def number_key(number: object) -> str:
    """A company or employee number as a join key: `"007"`, `7` and `" 7 "` are the same number."""
    text = str(number if number is not None else "").strip()
    return str(int(text)) if text.isdigit() else text


def company_number(number: object, name: str, api: str) -> int:
    """A company's Nmbrs number as the warehouse key (an integer); a number that is not a whole
    number is refused, naming the company (REST `number` is a string)."""
    text = str(number if number is not None else "").strip()
    if not text.isascii() or not text.isdigit():
        raise IdJoinError(
            f"company {name!r}: its Nmbrs company number {text!r} ({api}) is not a whole number, and the "
            "warehouse keys companies on that number (docs/nmbrs-api.md). Fix: give the company a numeric "
            "company number in Nmbrs, or leave it out of the consent"
        )
    return int(text)


def employee_number(number: object, company_id: int, api: str) -> int:
    """An employee's number as the warehouse key (an integer), refused when missing or not whole."""
    text = str(number if number is not None else "").strip()
    if not text.isascii() or not text.isdigit():
        raise IdJoinError(
            f"company {company_id}: an employee's employee number {text!r} ({api}) is not a whole number, and "
            "the warehouse keys employees on that number (docs/nmbrs-api.md). Fix: give every employee a "
            "numeric employee number in Nmbrs"
        )
    return int(text)


def join_ids(
    kind: str, rest: Iterable[tuple[Hashable, R]], soap: Iterable[tuple[Hashable, S]], where: str
) -> list[tuple[R, S]]:
    """(REST item, SOAP item) for every REST item, matched on its key (JOIN_KEYS[kind]).

    SOAP items that REST does not list are left out: the REST listing says what the sync covers.
    """
    label = JOIN_KEYS[kind]
    soap_by_key: dict[Hashable, S] = {}
    for key, item in soap:
        if key in soap_by_key:
            raise IdJoinError(
                f"{where}: SOAP lists two {kind}s with {label} {key!r}, so REST rows cannot be matched to "
                f"SOAP ones. Fix: give each {kind} its own {label} in Nmbrs"
            )
        soap_by_key[key] = item
    pairs, seen = [], set()
    for key, item in rest:
        if key in seen:
            raise IdJoinError(
                f"{where}: REST lists two {kind}s with {label} {key!r}. Fix: give each {kind} its own "
                f"{label} in Nmbrs"
            )
        seen.add(key)
        if key not in soap_by_key:
            raise IdJoinError(
                f"{where}: the REST API lists a {kind} with {label} {key!r} that the SOAP API does not. "
                "Fix: give the SOAP API token the same companies as the REST consent, or run the sync "
                "again later if it was just added"
            )
        pairs.append((item, soap_by_key[key]))
    return pairs


def rest_run_as_run_info(run: RestRun, company_id: int) -> RunInfo:
    """A REST run as a row of nmbrs.payroll_runs, on the company number; run_id and rest_run_id
    hold the REST payrollRunId (text)."""
    return RunInfo(
        company_id=company_id,
        year=run.year,
        run_id=run.payroll_run_id,
        run_number=run.number,
        period_start=run.period_start,
        period_end=run.period_end,
        description=run.description,
        run_at=run.created_at,
        is_locked=run.locked,
        run_type=RUN_TYPES.get(run.run_type or "", run.run_type),
        rest_run_id=run.payroll_run_id,
    )
