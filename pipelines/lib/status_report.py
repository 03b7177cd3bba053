"""The state of the whole pipeline on one screen (`payroll status`): the records, what needs
attention, and the text and JSON forms.

Plain data: `pipelines/app/status.py` reads it from the Dagster instance and the warehouse. The exit
code is the sum of the areas that need attention, so that a monitor can test each bit:
- 4 `ATTENTION_SYNC`: a company is stale (its last sync is older than PAYROLL_STALE_AFTER_DAYS),
  was never synced, or the latest run of one of its company-years failed; or nothing is synced yet;
- 8 `ATTENTION_CHECKS`: the latest evaluation of an asset check failed (ERROR or WARN);
- 16 `ATTENTION_RECONCILIATION`: a reconciliation mart holds rows that are not `matched`, or is not
  built yet.
0 means all is well. Like every `payroll` command, 2 is a configuration error (the warehouse
unreachable included) and 1 an unexpected error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

ATTENTION_SYNC = 4
ATTENTION_CHECKS = 8
ATTENTION_RECONCILIATION = 16
LISTED_DIFFERENCES = 10


@dataclass(frozen=True)
class FailedRun:
    """The latest finished run of one company-year partition, when it failed."""

    partition: str
    run_id: str
    ended_at: dt.datetime
    error: str


@dataclass(frozen=True)
class CompanySync:
    company_id: str
    name: str
    last_sync: dt.datetime | None  # the newest materialization of any of its company-year partitions
    company_years: int  # partitions with a materialization
    failed_runs: tuple[FailedRun, ...] = ()

    def age(self, now: dt.datetime) -> dt.timedelta | None:
        return None if self.last_sync is None else now - self.last_sync

    def state(self, now: dt.datetime, stale_after: dt.timedelta) -> str:
        """`ok`, `stale`, `never` (never synced) or `failed` (a company-year's latest run failed)."""
        if self.failed_runs:
            return "failed"
        age = self.age(now)
        if age is None:
            return "never"
        return "stale" if age > stale_after else "ok"


@dataclass(frozen=True)
class FailingCheck:
    asset: str
    check: str
    partition: str | None
    severity: str  # ERROR or WARN
    description: str  # what the evaluation said, else what the check is for
    evaluated_at: dt.datetime


@dataclass(frozen=True)
class OpenDifference:
    entity: str | None
    year: int
    month: int
    account: str
    difference: Decimal
    status: str


@dataclass(frozen=True)
class Reconciliation:
    """One reconciliation mart: its rows that are not `matched`, counted by status, largest first."""

    mart: str
    built: bool
    open_by_status: dict[str, int] = field(default_factory=dict)
    largest: tuple[OpenDifference, ...] = ()

    @property
    def open(self) -> int:
        return sum(self.open_by_status.values())


@dataclass(frozen=True)
class PipelineStatus:
    now: dt.datetime  # timezone-aware
    timezone: str  # for display (PAYROLL_TIMEZONE)
    stale_after: dt.timedelta
    source_mode: str
    demo: bool
    soap_sunset: dt.date | None  # the day Nmbrs retires SOAP, while SOAP is in use
    companies: tuple[CompanySync, ...]
    checks: int  # asset checks defined
    failing_checks: tuple[FailingCheck, ...]
    reconciliations: tuple[Reconciliation, ...]

    def companies_needing_attention(self) -> list[CompanySync]:
        return [c for c in self.companies if c.state(self.now, self.stale_after) != "ok"]

    def exit_code(self) -> int:
        code = 0
        if not self.companies or self.companies_needing_attention():
            code |= ATTENTION_SYNC
        if self.failing_checks:
            code |= ATTENTION_CHECKS
        if any(not mart.built or mart.open for mart in self.reconciliations):
            code |= ATTENTION_RECONCILIATION
        return code

    def attention(self) -> list[str]:
        """One phrase per area that needs attention, in exit-code order."""
        code = self.exit_code()
        phrases = []
        if code & ATTENTION_SYNC:
            count = len(self.companies_needing_attention())
            phrases.append(
                f"sync ({count} compan{'y' if count == 1 else 'ies'})" if count else "sync (none yet)"
            )
        if code & ATTENTION_CHECKS:
            phrases.append(f"checks ({len(self.failing_checks)} failing)")
        if code & ATTENTION_RECONCILIATION:
            open_rows = sum(mart.open for mart in self.reconciliations)
            phrases.append(f"reconciliation ({open_rows} open)")
        return phrases


def _local(moment: dt.datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def _ago(age: dt.timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 0:
        return "in the future"
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


def _days(delta: dt.timedelta) -> str:
    days = delta / dt.timedelta(days=1)
    return f"{days:g} day{'' if days == 1 else 's'}"


def render(status: PipelineStatus) -> Iterator[str]:
    """The status as printable lines: the headline, then source, companies, checks, reconciliation."""
    code = status.exit_code()
    headline = "all is well" if code == 0 else "needs attention: " + ", ".join(status.attention())
    yield f"Pipeline status at {_local(status.now, status.timezone)} ({status.timezone}): {headline}"
    yield ""
    yield from _source_lines(status)
    yield ""
    yield from _company_lines(status)
    yield ""
    yield from _check_lines(status)
    for mart in status.reconciliations:
        yield ""
        yield from _reconciliation_lines(mart)
    yield ""
    yield f"exit code {code} (4 sync, 8 checks, 16 reconciliation; 0 = all is well)"


def _source_lines(status: PipelineStatus) -> Iterator[str]:
    where = " (demo: the local Nmbrs sandbox)" if status.demo else ""
    yield f"Source: Nmbrs {status.source_mode}{where}"
    if status.soap_sunset is not None:
        left = (status.soap_sunset - status.now.date()).days
        when = f"in {left} days" if left > 0 else "today" if left == 0 else f"{-left} days ago"
        yield (
            f"  SOAP in use: Nmbrs retires the SOAP API on {status.soap_sunset.isoformat()} ({when}); "
            "move to REST (docs/connecting-nmbrs.md)"
        )


def _company_lines(status: PipelineStatus) -> Iterator[str]:
    yield (
        f"Companies: last sync of their company-years; stale after {_days(status.stale_after)} "
        "(PAYROLL_STALE_AFTER_DAYS)"
    )
    if not status.companies:
        yield "  none synced yet: run `payroll sync`"
        return
    width = max(len(f"{c.company_id}  {c.name}") for c in status.companies)
    for company in status.companies:
        state = company.state(status.now, status.stale_after)
        label = f"{company.company_id}  {company.name}"
        if company.last_sync is None:
            when = "never synced"
        else:
            when = (
                f"{_local(company.last_sync, status.timezone)} ({_ago(company.age(status.now))}), "
                f"{company.company_years} company-year{'' if company.company_years == 1 else 's'}"
            )
        yield f"  {state.upper():<6} {label:<{width}}  {when}"
        for run in company.failed_runs:
            yield (
                f"         latest run of {run.partition} failed at {_local(run.ended_at, status.timezone)} "
                f"(run {run.run_id[:8]}): {run.error}"
            )


def _check_lines(status: PipelineStatus) -> Iterator[str]:
    yield f"Checks: {status.checks} asset checks, {len(status.failing_checks)} failing"
    for check in status.failing_checks:
        where = f" [{check.partition}]" if check.partition else ""
        yield (
            f"  {check.severity:<5} {check.asset} / {check.check}{where}: {check.description} "
            f"({_local(check.evaluated_at, status.timezone)})"
        )


def _reconciliation_lines(mart: Reconciliation) -> Iterator[str]:
    if not mart.built:
        yield f"Reconciliation ({mart.mart}): not built yet: run `payroll sync`"
        return
    counts = ", ".join(f"{count} {state}" for state, count in sorted(mart.open_by_status.items()))
    yield f"Reconciliation ({mart.mart}): {mart.open} open" + (f": {counts}" if counts else "")
    for row in mart.largest:
        yield (
            f"  {row.entity or '-':<8} {row.year}-{row.month:02d}  {row.account:<8} "
            f"{row.difference:>14,.2f}  {row.status}"
        )
    if mart.open > len(mart.largest):
        yield f"  … {mart.open - len(mart.largest)} more in {mart.mart}"


def to_json(status: PipelineStatus) -> dict:
    """The status as JSON-ready values: times in ISO 8601 (UTC), money as exact strings."""
    return {
        "checked_at": _plain(status.now),
        "exit_code": status.exit_code(),
        "attention": status.attention(),
        "source": {
            "mode": status.source_mode,
            "demo": status.demo,
            "soap_sunset": _plain(status.soap_sunset),
        },
        "stale_after_days": status.stale_after / dt.timedelta(days=1),
        "companies": [
            {**_plain(dataclasses.asdict(company)), "state": company.state(status.now, status.stale_after)}
            for company in status.companies
        ],
        "checks": status.checks,
        "failing_checks": [_plain(dataclasses.asdict(check)) for check in status.failing_checks],
        "reconciliation": [
            {**_plain(dataclasses.asdict(mart)), "open": mart.open} for mart in status.reconciliations
        ],
    }


def _plain(value):
    """Dataclass fields as JSON values: datetimes in UTC and dates in ISO 8601, Decimals as strings."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
