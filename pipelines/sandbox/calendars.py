"""Payroll period calendars: which days a period covers and which calendar month it belongs to.

Month: period p is calendar month p. Week4: period p of year Y starts on the Monday of ISO week
4(p-1)+1 of ISO year Y and lasts 28 days; period 13 ends on the Sunday of the ISO year's last week.
A period belongs to the calendar month (and calendar year) that contains its end date.
"""

from __future__ import annotations

import calendar
import datetime as dt

PERIODS_PER_YEAR = {"Month": 12, "Week4": 13}


def periods_in_year(period_type: str) -> int:
    try:
        return PERIODS_PER_YEAR[period_type]
    except KeyError:
        raise ValueError(
            f"unsupported period type {period_type!r}; the sandbox knows Month and Week4"
        ) from None


def _check_period(period_type: str, period: int) -> None:
    if not 1 <= period <= periods_in_year(period_type):
        raise ValueError(f"period {period} is outside 1..{periods_in_year(period_type)} for {period_type}")


def period_start(period_type: str, year: int, period: int) -> dt.date:
    _check_period(period_type, period)
    if period_type == "Month":
        return dt.date(year, period, 1)
    return dt.date.fromisocalendar(year, 4 * (period - 1) + 1, 1)


def period_end(period_type: str, year: int, period: int) -> dt.date:
    _check_period(period_type, period)
    if period_type == "Month":
        return dt.date(year, period, calendar.monthrange(year, period)[1])
    if period == 13:
        last_week = dt.date(year, 12, 28).isocalendar().week
        return dt.date.fromisocalendar(year, last_week, 7)
    return period_start(period_type, year, period) + dt.timedelta(days=27)


def period_month(period_type: str, year: int, period: int) -> tuple[int, int]:
    """(calendar year, month) that a period belongs to: the month containing its end date."""
    end = period_end(period_type, year, period)
    return end.year, end.month
