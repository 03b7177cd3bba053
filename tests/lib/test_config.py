"""NMBRS_* settings: demo defaults, source modes, clear errors, no secrets in repr."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from pipelines.lib.nmbrs import doctor
from pipelines.lib.nmbrs.config import SOAP_SUNSET, NmbrsSettings
from pipelines.lib.settings import ConfigurationError, temporary_env

BEFORE_SUNSET = dt.date(2026, 12, 1)  # the clock is pinned: no test depends on today's date
AFTER_SUNSET = dt.date(2027, 3, 1)

SOAP = {"NMBRS_USERNAME": "payroll@example.nl", "NMBRS_TOKEN": "tok-4f9a0c2e9d"}
REST = {
    "NMBRS_CLIENT_ID": "my-app",
    "NMBRS_CLIENT_SECRET": "sec-77ad01",
    "NMBRS_SUBSCRIPTION_KEY": "key-0b1c",
}


def settings(today: dt.date = BEFORE_SUNSET, **env: str) -> NmbrsSettings:
    cleared = {key: None for key in os.environ if key.startswith("NMBRS_")}
    with temporary_env({**cleared, "PAYROLL_SANDBOX_PORT": None, **env}):
        return NmbrsSettings.from_env(today=today)


def test_no_settings_is_demo_mode_against_the_sandbox():
    demo = settings()
    assert demo.demo and demo.source_mode == "rest"
    assert demo.soap_url == "http://127.0.0.1:8765/soap/v3/" and demo.rest_url == demo.identity_url
    assert (demo.username, demo.token, demo.domain) == (
        "demo@payroll.example",
        "sandbox-token",
        "payrolldemo",
    )
    assert demo.soap_configured and demo.rest_configured
    moved = settings(PAYROLL_SANDBOX_PORT="9911", NMBRS_SOURCE_MODE="soap", NMBRS_TIMEOUT_SECONDS="5")
    assert moved.demo and moved.soap_url.startswith("http://127.0.0.1:9911/") and moved.source_mode == "soap"
    assert moved.timeout_seconds == 5


def test_source_mode_defaults_to_what_is_configured():
    assert settings(**SOAP).source_mode == "soap"
    assert settings(**REST).source_mode == "rest"
    both = settings(**SOAP, **REST)
    assert both.source_mode == "rest" and not both.demo  # REST whenever REST is configured
    assert settings(**SOAP, **REST, NMBRS_SOURCE_MODE="rest+soap").source_mode == "rest+soap"
    assert both.soap_url == "https://api.nmbrs.nl/soap/v3/" and both.rest_url == "https://api.nmbrsapp.com"


def test_partial_configuration_names_the_missing_variables():
    with pytest.raises(ConfigurationError) as err:
        settings(NMBRS_USERNAME="payroll@example.nl", NMBRS_CLIENT_ID="my-app")
    message = str(err.value)
    assert (
        "NMBRS_TOKEN" in message and "NMBRS_CLIENT_SECRET" in message and "NMBRS_SUBSCRIPTION_KEY" in message
    )


def test_a_chosen_mode_needs_its_variables():
    with pytest.raises(ConfigurationError, match="NMBRS_SOURCE_MODE=rest\\+soap needs NMBRS_CLIENT_ID"):
        settings(**SOAP, NMBRS_SOURCE_MODE="rest+soap")
    with pytest.raises(ConfigurationError, match="not one of rest, rest\\+soap, soap"):
        settings(**SOAP, NMBRS_SOURCE_MODE="ftp")
    with pytest.raises(ConfigurationError, match="NMBRS_SOAP_URL='api.nmbrs.nl' is not an http"):
        settings(**SOAP, NMBRS_SOAP_URL="api.nmbrs.nl")
    with pytest.raises(ConfigurationError, match="NMBRS_TIMEOUT_SECONDS"):
        settings(**SOAP, NMBRS_TIMEOUT_SECONDS="soon")


def test_repr_never_shows_secrets():
    text = repr(settings(**SOAP, **REST)) + str(settings(**SOAP, **REST))
    for secret in ("tok-4f9a0c2e9d", "sec-77ad01", "key-0b1c"):
        assert secret not in text
    assert "payroll@example.nl" in text and "token='***'" in text


def test_a_local_sandbox_gets_a_free_redirect_port_and_real_nmbrs_the_registered_one():
    """Concurrent connects against a sandbox must not collide; real Nmbrs only accepts the registered URI."""
    from pipelines.lib.nmbrs.config import DEFAULT_REDIRECT_URI, NmbrsSettings
    from pipelines.lib.settings import temporary_env

    rest = {"NMBRS_CLIENT_ID": "c", "NMBRS_CLIENT_SECRET": "s", "NMBRS_SUBSCRIPTION_KEY": "k"}
    with temporary_env(
        {**rest, "NMBRS_IDENTITY_URL": "http://127.0.0.1:9/", "NMBRS_REST_URL": "http://127.0.0.1:9"}
    ):
        assert NmbrsSettings.from_env().redirect_uri == "http://127.0.0.1:0/callback"
    with temporary_env(
        {**rest, "NMBRS_IDENTITY_URL": None, "NMBRS_REST_URL": None, "NMBRS_REDIRECT_URI": None}
    ):
        assert NmbrsSettings.from_env().redirect_uri == DEFAULT_REDIRECT_URI


def test_the_default_mode_before_and_after_the_soap_sunset():
    assert SOAP_SUNSET == AFTER_SUNSET
    day_before = SOAP_SUNSET - dt.timedelta(days=1)
    assert settings(day_before, **SOAP).source_mode == "soap"
    assert settings(day_before, **SOAP, **REST).source_mode == "rest"
    assert settings(day_before, **SOAP, **REST, NMBRS_SOURCE_MODE="rest+soap").source_mode == "rest+soap"
    # From the sunset on, REST is the only default, and SOAP against real Nmbrs is refused...
    assert settings(AFTER_SUNSET, **SOAP, **REST).source_mode == "rest"
    with pytest.raises(ConfigurationError) as err:
        settings(AFTER_SUNSET, **SOAP)
    message = str(err.value)
    assert "Nmbrs retired the SOAP API on 2027-03-01" in message and "the default mode soap" in message
    assert "NMBRS_CLIENT_ID" in message and "NMBRS_FORCE_SOAP=1" in message
    for mode in ("soap", "rest+soap"):
        with pytest.raises(ConfigurationError, match=f"NMBRS_SOURCE_MODE={mode.replace('+', '.')} calls it"):
            settings(AFTER_SUNSET, **SOAP, **REST, NMBRS_SOURCE_MODE=mode)
    # ...unless the user forces it.
    forced = settings(AFTER_SUNSET, **SOAP, NMBRS_FORCE_SOAP="1")
    assert forced.source_mode == "soap"
    both = settings(AFTER_SUNSET, **SOAP, **REST, NMBRS_SOURCE_MODE="rest+soap", NMBRS_FORCE_SOAP="1")
    assert both.source_mode == "rest+soap"
    # The local sandbox keeps serving SOAP: not retired.
    sandbox = settings(AFTER_SUNSET, NMBRS_SOURCE_MODE="soap")
    assert sandbox.demo and sandbox.source_mode == "soap"


def test_doctor_says_which_path_delivers_complete_data_and_the_sunset_while_soap_is_in_use():
    rest = doctor.complete_data_path(settings(**SOAP, **REST))
    assert rest.startswith("REST delivers complete data: the run output of every run") and "2027" not in rest
    both = doctor.complete_data_path(settings(**SOAP, **REST, NMBRS_SOURCE_MODE="rest+soap"))
    assert "REST delivers complete data" in both and "SOAP cross-checks" in both
    assert "Nmbrs retires the SOAP API on 2027-03-01" in both
    soap = doctor.complete_data_path(settings(**SOAP))
    assert (
        soap.startswith("SOAP delivers complete data") and "Nmbrs retires the SOAP API on 2027-03-01" in soap
    )
