"""Departments and cost centres of the sandbox's employees, each a history of assignments.

Every employee starts in a department and a cost centre chosen by employee number. The second
employee of each company moves to the next department from period 7 of the scenario's first year,
so the history and the journal by department have a change to show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pipelines.sandbox.calendars import period_start
from pipelines.sandbox.model import Company, Employee

DEPARTMENTS = ((1, "Productie"), (2, "Verkoop"), (3, "Administratie"))
COST_CENTRES = (("100", "Winkel"), ("200", "Werkplaats"), ("300", "Kantoor"))
MOVE_PERIOD = 7
MOVING_EMPLOYEE = 2


@dataclass(frozen=True)
class Assignment:
    code: str
    description: str
    year: int
    period: int
    created_at: dt.datetime


def _assigned(company: Company, year: int, period: int) -> dt.datetime:
    return dt.datetime.combine(period_start(company.period_type, year, period), dt.time(8, 0)) - dt.timedelta(
        days=5
    )


def departments(company: Company, employee: Employee, first_year: int) -> tuple[Assignment, ...]:
    index = (employee.number - 1) % len(DEPARTMENTS)
    code, name = DEPARTMENTS[index]
    start = (employee.start_year, employee.start_period)
    history = [Assignment(str(code), name, *start, _assigned(company, *start))]
    move = (first_year, MOVE_PERIOD)
    if employee.number == MOVING_EMPLOYEE and start < move:
        code, name = DEPARTMENTS[(index + 1) % len(DEPARTMENTS)]
        history.append(Assignment(str(code), name, *move, _assigned(company, *move)))
    return tuple(history)


def cost_centres(company: Company, employee: Employee) -> tuple[Assignment, ...]:
    code, name = COST_CENTRES[(employee.number - 1) % len(COST_CENTRES)]
    start = (employee.start_year, employee.start_period)
    return (Assignment(code, name, *start, _assigned(company, *start)),)


def at(history: tuple[Assignment, ...], year: int, period: int) -> Assignment:
    """The assignment in force in (year, period): the latest one that started on or before it."""
    started = [a for a in history if (a.year, a.period) <= (year, period)]
    return max(started or history[:1], key=lambda a: (a.year, a.period))
