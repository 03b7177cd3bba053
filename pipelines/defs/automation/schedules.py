"""Schedules: the daily reference refresh and the weekly full reconciliation rebuild.

Cron expressions and the time zone come from PAYROLL_DAILY_CRON, PAYROLL_WEEKLY_CRON and
PAYROLL_TIMEZONE (default Europe/Amsterdam, so that 06:00 stays 06:00 across daylight saving).
"""

from __future__ import annotations

import dagster as dg

from pipelines.defs.automation.config import AutomationSettings
from pipelines.defs.automation.status import default_schedule_status

_settings = AutomationSettings.from_env()

daily_reference_refresh = dg.ScheduleDefinition(
    name="daily_reference_refresh",
    job_name="nmbrs_reference_refresh",
    cron_schedule=_settings.daily_cron,
    execution_timezone=_settings.timezone,
    default_status=default_schedule_status(),
    description="Refresh companies and employees from Nmbrs every day (PAYROLL_DAILY_CRON).",
)

weekly_reconciliation_rebuild = dg.ScheduleDefinition(
    name="weekly_reconciliation_rebuild",
    job_name="payroll_reconciliation_rebuild",
    cron_schedule=_settings.weekly_cron,
    execution_timezone=_settings.timezone,
    default_status=default_schedule_status(),
    description="Reload the ERP and rebuild every mart and the reconciliation each week (PAYROLL_WEEKLY_CRON).",
)
