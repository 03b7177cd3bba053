"""NMBRS_* settings: demo defaults, source modes, clear errors, no secrets in repr."""

from __future__ import annotations

import os

import pytest

from pipelines.lib.nmbrs.config import NmbrsSettings
from pipelines.lib.settings import ConfigurationError, temporary_env

SOAP = {"NMBRS_USERNAME": "payroll@example.nl", "NMBRS_TOKEN": "tok-4f9a0c2e9d"}
REST = {
    "NMBRS_CLIENT_ID": "my-app",
    "NMBRS_CLIENT_SECRET": "sec-77ad01",
    "NMBRS_SUBSCRIPTION_KEY": "key-0b1c",
}


def settings(**env: str) -> NmbrsSettings:
    cleared = {key: None for key in os.environ if key.startswith("NMBRS_")}
    with temporary_env({**cleared, "PAYROLL_SANDBOX_PORT": None, **env}):
        return NmbrsSettings.from_env()


def test_no_settings_is_demo_mode_against_the_sandbox():
    demo = settings()
    assert demo.demo and demo.source_mode == "rest+soap"
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
    assert both.source_mode == "rest+soap" and not both.demo
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
    with pytest.raises(ConfigurationError, match="not one of rest\\+soap, soap, rest"):
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
