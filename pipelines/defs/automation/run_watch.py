"""What the new-run sensor remembers and compares: a fingerprint per Nmbrs payroll run.

A run counts as new or changed when its fingerprint (run id, RunAt, locked flag, period range) is
not among those seen for its company-year. The memory is the sensor cursor, a JSON document
{"seen": {"<company>|<year>": {"<run id>": "<fingerprint>"}}}; a company-year the cursor has never
seen is compared with the runs the warehouse already holds, so that a sensor switched on after the
first import does not load everything again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CURSOR_VERSION = 1


@dataclass(frozen=True)
class RunFingerprint:
    """The parts of an Nmbrs payroll run whose change means the company-year must be reloaded."""

    run_id: str
    run_at: str
    is_locked: bool | None
    period_start: int | None
    period_end: int | None

    @classmethod
    def of(
        cls,
        run_id: object,
        run_at: dt.datetime | str | None,
        is_locked: bool | None,
        period_start: int | None,
        period_end: int | None,
    ) -> RunFingerprint:
        return cls(
            run_id=str(run_id),
            run_at=normalise_run_at(run_at),
            is_locked=None if is_locked is None else bool(is_locked),
            period_start=None if period_start is None else int(period_start),
            period_end=None if period_end is None else int(period_end),
        )

    @property
    def value(self) -> str:
        locked = {True: "locked", False: "open", None: "-"}[self.is_locked]
        start = "-" if self.period_start is None else self.period_start
        end = "-" if self.period_end is None else self.period_end
        return f"{self.run_at}|{locked}|{start}-{end}"


def normalise_run_at(value: dt.datetime | str | None) -> str:
    """RunAt as `YYYY-MM-DDThh:mm:ss` (naive, as Nmbrs sends it), whatever form the client returned."""
    if value is None:
        return "-"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat()


SeenRuns = dict[str, str]


@dataclass
class RunCursor:
    """The sensor's memory: seen run fingerprints per company_year partition key."""

    seen: dict[str, SeenRuns]

    @classmethod
    def parse(cls, raw: str | None) -> RunCursor:
        if not raw:
            return cls(seen={})
        try:
            document = json.loads(raw)
            seen = document["seen"]
            if not isinstance(seen, dict):
                raise TypeError("seen is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"the new-run sensor's cursor is not valid ({exc}). Fix: reset the sensor's cursor in the "
                f"Dagster UI (Sensors > nmbrs_new_runs > Set cursor value, empty); the sensor then compares "
                f"with the runs in the warehouse"
            ) from exc
        return cls(seen={key: dict(runs) for key, runs in seen.items()})

    def serialise(self) -> str:
        return json.dumps({"version": CURSOR_VERSION, "seen": self.seen}, sort_keys=True)


def fingerprints(runs: Iterable[RunFingerprint]) -> SeenRuns:
    return {run.run_id: run.value for run in runs}


def changed_runs(current: Iterable[RunFingerprint], seen: Mapping[str, str]) -> list[RunFingerprint]:
    """Runs that are new or whose fingerprint differs from the one seen, latest RunAt last."""
    changed = [run for run in current if seen.get(run.run_id) != run.value]
    return sorted(changed, key=lambda run: (run.run_at, run.run_id))


def run_key(company: str, run: RunFingerprint) -> str:
    """Dagster's dedupe key for the load a run causes: the same run at the same RunAt loads once."""
    return f"{company}:{run.run_id}:{run.run_at}"


def years_to_poll(today: dt.date) -> list[int]:
    """The current year, and in January also the previous one (its last runs are often made then)."""
    return [today.year - 1, today.year] if today.month == 1 else [today.year]
