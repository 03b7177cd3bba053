"""The sensor that registers a `nmbrs_companies` partition for every company Nmbrs lists.

New companies then get their company-year partitions, which the new-run sensor and backfills use.
Companies that disappear from Nmbrs keep their partitions (their history stays loaded).
"""

from __future__ import annotations

import dagster as dg

from pipelines.defs.automation.nmbrs_runs import company_ids
from pipelines.defs.automation.status import AUTOMATION, default_sensor_status
from pipelines.defs.nmbrs.partitions import register_companies_request
from pipelines.defs.nmbrs.resources import NmbrsResource


@dg.sensor(
    name="nmbrs_new_companies",
    minimum_interval_seconds=AUTOMATION.sensor_interval_seconds,
    default_status=default_sensor_status(),
    description="Registers a company_year partition set for every new Nmbrs company.",
)
def nmbrs_new_companies(context: dg.SensorEvaluationContext, nmbrs: NmbrsResource) -> dg.SensorResult:
    listed = company_ids(nmbrs.session())
    request = register_companies_request(context.instance, listed)
    if request is None:
        return dg.SensorResult(skip_reason=f"no new companies ({len(listed)} listed by Nmbrs)")
    context.log.info(f"registering Nmbrs companies {', '.join(request.partition_keys)}")
    return dg.SensorResult(dynamic_partitions_requests=[request])
