"""The automation settings as this code location loaded them, and the default status of the
sensors and schedules when Dagster first sees them.

PAYROLL_AUTOMATION=off keeps them stopped until someone starts them in the UI; `payroll backfill`
sets it for the daemon it starts only to drive a backfill, so that this daemon does not begin
polling Nmbrs on its own.
"""

from __future__ import annotations

import dagster as dg

from pipelines.lib.automation_settings import AutomationSettings

AUTOMATION = AutomationSettings.from_env()


def default_sensor_status() -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if AUTOMATION.enabled else dg.DefaultSensorStatus.STOPPED


def default_schedule_status() -> dg.DefaultScheduleStatus:
    return dg.DefaultScheduleStatus.RUNNING if AUTOMATION.enabled else dg.DefaultScheduleStatus.STOPPED
