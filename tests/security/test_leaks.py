"""Scenario 11: a full sync at DEBUG shows no secret, token, BSN or birth date anywhere we can read.

Searched: the captured log text (PAYROLL_LOG_LEVEL=DEBUG: every Python logger, zeep.transports held at
INFO, and Dagster's console log at DEBUG), with the tokens encrypted at rest and their key searched for,
the serialized Dagster run and event records (messages, metadata, errors), and the exception texts
(error and traceback) of a sync made to fail.
"""

from __future__ import annotations

import re

import pytest

from tests.reliability.support import record_figure

pytestmark = pytest.mark.security

# A standalone 9-digit number (not a digit run inside a hex digest or an identifier).
NINE_DIGITS = re.compile(r"(?<![0-9A-Za-z])\d{9}(?![0-9A-Za-z])")


def elfproef(number: str) -> bool:
    """The BSN check: sum of digit × (9..2), minus the last digit, divisible by 11."""
    digits = [int(d) for d in number]
    total = sum(d * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - digits[8]
    return total % 11 == 0 and number != "000000000"


def _sources(secured) -> dict[str, str]:
    return {"logs": secured.logs, "event log": secured.events, "exception texts": secured.exceptions}


def test_the_captured_text_is_real(secured):
    """Guards the other tests against searching nothing: every source holds what a sync writes."""
    assert "DEBUG" in secured.logs and "urllib3" in secured.logs
    assert " - DEBUG - " in secured.logs and " - STEP_START - " in secured.logs  # Dagster's console log
    assert any(name.startswith("token encryption key") for name in secured.secrets)
    assert "nmbrs/wage_components" in secured.events and "ASSET_MATERIALIZATION" in secured.events
    assert "run `payroll connect` again" in secured.exceptions and 'File "' in secured.exceptions
    assert len(secured.secrets) >= 5 and len(secured.bsns) >= 18


def test_no_secret_or_token_appears(secured):
    found = [
        f"{name} in {where}"
        for where, text in _sources(secured).items()
        for name, value in secured.secrets.items()
        if value in text
    ]
    assert found == []


def test_no_bsn_or_birth_date_appears(secured):
    found = []
    for where, text in _sources(secured).items():
        found += [f"a sandbox BSN in {where}" for bsn in secured.bsns if bsn in text]
        found += [f"birth date {day} in {where}" for day in secured.birth_dates if day in text]
        for match in NINE_DIGITS.finditer(text):
            if elfproef(match.group()):
                context = text[max(0, match.start() - 40) : match.end() + 40].replace(
                    match.group(), "#########"
                )
                found.append(f"BSN-shaped number in {where}: ...{context}...")
    assert found == []
    record_figure(
        "11_secrets_pii_leak",
        characters_searched=sum(len(text) for text in _sources(secured).values()),
        secrets_searched=len(secured.secrets),
        bsns_searched=len(secured.bsns),
        birth_dates_searched=len(secured.birth_dates),
        runs_searched=len(secured.run_ids),
        found=0,
    )
