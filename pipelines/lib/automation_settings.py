"""The automation settings (PAYROLL_SENSOR_INTERVAL_SECONDS, the crons, the time zone, the pool size,
the alert webhook, PAYROLL_AUTOMATION), read from the environment when the definitions load.

Every value has a default that suits a small installation; a wrong value raises ConfigurationError
naming the variable and the fix, so that `dagster definitions validate` and the CLI fail clearly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from pipelines.lib.settings import ConfigurationError, env_flag, env_int

DEFAULT_SENSOR_INTERVAL_SECONDS = 300
DEFAULT_DAILY_CRON = "0 6 * * *"
DEFAULT_WEEKLY_CRON = "0 7 * * 1"
DEFAULT_TIMEZONE = "Europe/Amsterdam"
DEFAULT_POOL_SIZE = 2
AUTOMATION_VARIABLE = "PAYROLL_AUTOMATION"
# A payroll cycle (a month or four weeks) and a week of grace: the sensor loads a company-year when
# Nmbrs has a new run, so a company synced longer ago than this has missed a payroll run.
DEFAULT_STALE_AFTER_DAYS = 35


@dataclass(frozen=True)
class AutomationSettings:
    sensor_interval_seconds: int
    daily_cron: str
    weekly_cron: str
    timezone: str
    nmbrs_pool_size: int
    alert_webhook: str | None
    enabled: bool  # PAYROLL_AUTOMATION: sensors and schedules start running (off: stopped until started)
    stale_after_days: int

    @classmethod
    def from_env(cls) -> AutomationSettings:
        return cls(
            sensor_interval_seconds=env_int(
                "PAYROLL_SENSOR_INTERVAL_SECONDS", DEFAULT_SENSOR_INTERVAL_SECONDS, minimum=5
            ),
            daily_cron=_cron("PAYROLL_DAILY_CRON", DEFAULT_DAILY_CRON),
            weekly_cron=_cron("PAYROLL_WEEKLY_CRON", DEFAULT_WEEKLY_CRON),
            timezone=_timezone("PAYROLL_TIMEZONE", DEFAULT_TIMEZONE),
            nmbrs_pool_size=env_int("PAYROLL_NMBRS_POOL_SIZE", DEFAULT_POOL_SIZE, minimum=1),
            alert_webhook=_webhook("PAYROLL_ALERT_WEBHOOK"),
            enabled=env_flag(AUTOMATION_VARIABLE, default=True),
            stale_after_days=env_int("PAYROLL_STALE_AFTER_DAYS", DEFAULT_STALE_AFTER_DAYS, minimum=1),
        )


def _raw(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _cron(name: str, default: str) -> str:
    value = _raw(name) or default
    # Five fields, as Dagster schedules take them (no seconds field).
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ConfigurationError(
            f"{name}={value!r} is not a cron expression; use five fields, for example {default!r}"
        )
    return value


def _timezone(name: str, default: str) -> str:
    value = _raw(name) or default
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(
            f"{name}={value!r} is not an IANA time zone; use a name such as {default!r}"
        ) from exc
    return value


def _webhook(name: str) -> str | None:
    value = _raw(name)
    if value is not None and not value.startswith(("http://", "https://")):
        raise ConfigurationError(f"{name} must be an http:// or https:// URL (the chat or alerting webhook)")
    return value
