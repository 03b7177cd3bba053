"""The default status of the automation (sensors and schedules) when Dagster first sees them.

PAYROLL_AUTOMATION=off keeps them stopped until someone starts them in the UI; `payroll backfill`
sets it for the daemon it starts only to drive a backfill, so that this daemon does not begin
polling Nmbrs on its own.
"""

from __future__ import annotations

import dagster as dg

from pipelines.lib.settings import env_flag

AUTOMATION_VARIABLE = "PAYROLL_AUTOMATION"


def automation_on() -> bool:
    return env_flag(AUTOMATION_VARIABLE, default=True)


def default_sensor_status() -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if automation_on() else dg.DefaultSensorStatus.STOPPED


def default_schedule_status() -> dg.DefaultScheduleStatus:
    return dg.DefaultScheduleStatus.RUNNING if automation_on() else dg.DefaultScheduleStatus.STOPPED
