"""Schedules: the daily reference refresh and the weekly full reconciliation rebuild.

Cron expressions and the time zone come from PAYROLL_DAILY_CRON, PAYROLL_WEEKLY_CRON and
PAYROLL_TIMEZONE (default Europe/Amsterdam, so that 06:00 stays 06:00 across daylight saving).
"""

from __future__ import annotations

import dagster as dg

from pipelines.defs import keys
from pipelines.defs.automation.status import AUTOMATION, default_schedule_status


def _schedule(name: str, job_name: str, cron: str, description: str) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=name,
        job_name=job_name,
        cron_schedule=cron,
        execution_timezone=AUTOMATION.timezone,
        default_status=default_schedule_status(),
        description=description,
    )


daily_reference_refresh = _schedule(
    "daily_reference_refresh",
    keys.REFERENCE_JOB,
    AUTOMATION.daily_cron,
    "Refresh companies and employees from Nmbrs every day (PAYROLL_DAILY_CRON).",
)

weekly_reconciliation_rebuild = _schedule(
    "weekly_reconciliation_rebuild",
    keys.REBUILD_JOB,
    AUTOMATION.weekly_cron,
    "Reload the ERP and rebuild every mart and the reconciliation each week (PAYROLL_WEEKLY_CRON).",
)
