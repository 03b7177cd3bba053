"""The sensor that registers a `nmbrs_companies` partition for every company Nmbrs lists.

New companies then get their company-year partitions, which the new-run sensor and backfills use.
Companies that disappear from Nmbrs keep their partitions (their history stays loaded).
"""

from __future__ import annotations

import dagster as dg

from pipelines.defs.automation.config import AutomationSettings
from pipelines.defs.automation.nmbrs_runs import company_ids, nmbrs_session
from pipelines.defs.automation.status import default_sensor_status
from pipelines.defs.nmbrs.partitions import COMPANIES


def new_companies(instance: dg.DagsterInstance, listed: list[str]) -> list[str]:
    known = set(instance.get_dynamic_partitions(COMPANIES))
    return [company for company in listed if company not in known]


def register_companies(instance: dg.DagsterInstance) -> list[str]:
    """Ask Nmbrs for its companies and register the new ones; returns every listed company."""
    with nmbrs_session() as session:
        listed = company_ids(session)
    added = new_companies(instance, listed)
    if added:
        instance.add_dynamic_partitions(COMPANIES, added)
    return listed


@dg.sensor(
    name="nmbrs_new_companies",
    minimum_interval_seconds=AutomationSettings.from_env().sensor_interval_seconds,
    default_status=default_sensor_status(),
    description="Registers a company_year partition set for every new Nmbrs company.",
)
def nmbrs_new_companies(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    with nmbrs_session() as session:
        listed = company_ids(session)
    added = new_companies(context.instance, listed)
    if not added:
        return dg.SensorResult(skip_reason=f"no new companies ({len(listed)} listed by Nmbrs)")
    context.log.info(f"registering Nmbrs companies {', '.join(added)}")
    return dg.SensorResult(
        dynamic_partitions_requests=[
            dg.AddDynamicPartitionsRequest(partitions_def_name=COMPANIES, partition_keys=added)
        ]
    )
