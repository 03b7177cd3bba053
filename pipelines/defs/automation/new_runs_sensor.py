"""The sensor that loads a company-year as soon as Nmbrs has a new or changed payroll run for it.

Each tick lists the runs of every registered company (REST when configured, else SOAP Run_GetList)
for the current year, and in January also the previous one. A company-year with a run whose
fingerprint (RunAt, locked flag, period range) it has not seen gets ONE run request of
`nmbrs_company_year_sync`, keyed `company:run_id:RunAt`, so that Dagster launches it once however
often the same data is seen. While a run for that partition is queued or in progress the sensor
leaves the company-year alone (its cursor entry does not move), and looks again on the next tick.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from pipelines.defs import keys
from pipelines.defs.automation.nmbrs_runs import RunLister, run_lister, warehouse_runs
from pipelines.defs.automation.pool import apply_pool_size
from pipelines.defs.automation.run_watch import (
    RunCursor,
    SeenRuns,
    changed_runs,
    fingerprints,
    run_key,
    years_to_poll,
)
from pipelines.defs.automation.status import AUTOMATION, default_sensor_status
from pipelines.defs.nmbrs.partitions import company_year_key, loaded_years, registered_companies
from pipelines.defs.nmbrs.resources import NmbrsResource
from pipelines.defs.resources import WarehouseResource
from pipelines.lib.automation_settings import AutomationSettings

SENSOR_NAME = "nmbrs_new_runs"


@dataclass
class Evaluation:
    """The outcome of one look at Nmbrs: run requests, the new cursor and what was skipped why."""

    run_requests: list[dg.RunRequest] = field(default_factory=list)
    cursor: RunCursor = field(default_factory=lambda: RunCursor(seen={}))
    waiting: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    checked: int = 0

    def summary(self) -> str:
        parts = [f"checked {self.checked} company-year(s), requested {len(self.run_requests)} load(s)"]
        if self.waiting:
            parts.append(f"waiting for the running load of {', '.join(self.waiting)}")
        for company, error in self.failures.items():
            parts.append(f"company {company} failed: {error}")
        return "; ".join(parts)


def busy_partitions(instance: dg.DagsterInstance) -> set[str]:
    """company_year keys with a queued or running run of any job (sensor, backfill, CLI)."""
    runs = instance.get_runs(dg.RunsFilter(statuses=list(keys.UNFINISHED)))
    return {run.tags[keys.PARTITION_TAG] for run in runs if keys.PARTITION_TAG in run.tags}


def evaluate(
    companies: list[str],
    years: list[int],
    list_runs: RunLister,
    cursor: RunCursor,
    busy: set[str],
    baseline: Callable[[int, int], SeenRuns],
) -> Evaluation:
    """Compare Nmbrs's runs with what was seen; pure apart from the calls it is given."""
    result = Evaluation(cursor=RunCursor(seen=dict(cursor.seen)))
    for company in companies:
        for year in years:
            key = str(company_year_key(company, year))
            if key in busy:
                result.waiting.append(key)
                continue
            try:
                current = list_runs(int(company), year)
                seen = cursor.seen.get(key)
                if seen is None:
                    seen = baseline(int(company), year)
            except Exception as exc:  # one company's failure must not stop the others
                result.failures[company] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                break
            result.checked += 1
            changed = changed_runs(current, seen)
            if changed:
                latest = changed[-1]
                result.run_requests.append(
                    dg.RunRequest(
                        run_key=run_key(company, latest),
                        partition_key=key,
                        tags={
                            "payroll/trigger": f"nmbrs run {latest.run_id} at {latest.run_at}",
                            **keys.run_tags(
                                keys.STARTED_BY_SENSOR,
                                f"company {company}, year {year} (Nmbrs run {latest.run_id})",
                            ),
                        },
                    )
                )
            result.cursor.seen[key] = fingerprints(current)
    return result


def partition_years(today: dt.date) -> list[int]:
    """The polled years that are also company_year partitions (PAYROLL_START_YEAR may cut January's)."""
    known = set(loaded_years())
    return [year for year in years_to_poll(today) if year in known]


@dg.sensor(
    name=SENSOR_NAME,
    job_name=keys.COMPANY_YEAR_JOB,
    minimum_interval_seconds=AUTOMATION.sensor_interval_seconds,
    default_status=default_sensor_status(),
    description=(
        "Loads a company-year (and rebuilds its marts) when Nmbrs has a new or changed payroll run "
        "(RunAt, locked flag or period range). Interval: PAYROLL_SENSOR_INTERVAL_SECONDS."
    ),
)
def nmbrs_new_runs(
    context: dg.SensorEvaluationContext, nmbrs: NmbrsResource, warehouse: WarehouseResource
) -> dg.SensorResult:
    instance = context.instance
    apply_pool_size(instance, AutomationSettings.from_env().nmbrs_pool_size)
    companies = registered_companies(instance)
    if not companies:
        return dg.SensorResult(
            skip_reason="no Nmbrs companies registered yet; the nmbrs_new_companies sensor registers them"
        )
    result = evaluate(
        companies=companies,
        years=partition_years(dt.date.today()),
        list_runs=run_lister(nmbrs.session()),
        cursor=RunCursor.parse(context.cursor),
        busy=busy_partitions(instance),
        baseline=warehouse_runs(warehouse),
    )
    for company, error in result.failures.items():
        context.log.warning(f"checking the runs of Nmbrs company {company} failed: {error}")
    if result.failures and not result.checked and not result.waiting:
        raise RuntimeError(f"{SENSOR_NAME}: every company failed. {result.summary()}")
    context.log.info(result.summary())
    return dg.SensorResult(
        run_requests=result.run_requests,
        cursor=result.cursor.serialise(),
        skip_reason=None if result.run_requests else result.summary(),
    )
