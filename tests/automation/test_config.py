"""Automation settings: defaults a user gets, and clear errors for values that cannot work."""

from __future__ import annotations

import pytest

from pipelines.lib.automation_settings import AutomationSettings
from pipelines.lib.settings import ConfigurationError, temporary_env

VARIABLES = (
    "PAYROLL_SENSOR_INTERVAL_SECONDS",
    "PAYROLL_DAILY_CRON",
    "PAYROLL_WEEKLY_CRON",
    "PAYROLL_TIMEZONE",
    "PAYROLL_NMBRS_POOL_SIZE",
    "PAYROLL_ALERT_WEBHOOK",
)


def test_defaults_are_conservative_and_in_amsterdam_time():
    with temporary_env(dict.fromkeys(VARIABLES)):
        settings = AutomationSettings.from_env()
    assert settings.timezone == "Europe/Amsterdam"
    assert settings.nmbrs_pool_size == 2
    assert settings.sensor_interval_seconds == 300
    assert settings.alert_webhook is None


def test_values_from_the_environment_are_used():
    values = {
        "PAYROLL_SENSOR_INTERVAL_SECONDS": "30",
        "PAYROLL_DAILY_CRON": "15 5 * * 1-5",
        "PAYROLL_WEEKLY_CRON": "0 3 * * 0",
        "PAYROLL_TIMEZONE": "UTC",
        "PAYROLL_NMBRS_POOL_SIZE": "1",
        "PAYROLL_ALERT_WEBHOOK": "https://chat.example/hook",
    }
    with temporary_env(values):
        settings = AutomationSettings.from_env()
    assert (settings.sensor_interval_seconds, settings.daily_cron, settings.weekly_cron) == (
        30,
        "15 5 * * 1-5",
        "0 3 * * 0",
    )
    assert settings.timezone == "UTC" and settings.nmbrs_pool_size == 1
    assert settings.alert_webhook == "https://chat.example/hook"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PAYROLL_DAILY_CRON", "every day", "PAYROLL_DAILY_CRON='every day' is not a cron expression"),
        ("PAYROLL_TIMEZONE", "Amsterdam", "PAYROLL_TIMEZONE='Amsterdam' is not an IANA time zone"),
        ("PAYROLL_NMBRS_POOL_SIZE", "0", "PAYROLL_NMBRS_POOL_SIZE=0 must be at least 1"),
        (
            "PAYROLL_SENSOR_INTERVAL_SECONDS",
            "fast",
            "PAYROLL_SENSOR_INTERVAL_SECONDS='fast' is not a whole number",
        ),
        ("PAYROLL_ALERT_WEBHOOK", "chat.example/hook", "PAYROLL_ALERT_WEBHOOK must be an http"),
    ],
)
def test_a_wrong_value_names_the_variable_and_the_fix(variable, value, expected):
    with (
        temporary_env({**dict.fromkeys(VARIABLES), variable: value}),
        pytest.raises(ConfigurationError) as error,
    ):
        AutomationSettings.from_env()
    assert expected in str(error.value)
