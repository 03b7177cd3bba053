"""What counts as a new or changed Nmbrs run, and the sensor's memory of them."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.defs.automation.run_watch import (
    RunCursor,
    RunFingerprint,
    changed_runs,
    fingerprints,
    run_key,
    years_to_poll,
)


def _run(run_id="7", run_at="2026-03-28T10:00:00", locked=False, start=3, end=3):
    return RunFingerprint.of(run_id, run_at, locked, start, end)


def test_january_also_polls_the_previous_year():
    assert years_to_poll(dt.date(2027, 1, 15)) == [2026, 2027]
    assert years_to_poll(dt.date(2027, 2, 1)) == [2027]
    assert years_to_poll(dt.date(2026, 12, 31)) == [2026]


def test_rest_and_soap_forms_of_run_at_give_the_same_fingerprint():
    soap = _run(run_at="2026-03-28T10:00:00")
    rest = _run(run_at="2026-03-28T10:00:00.000Z")
    assert soap == rest
    assert _run(run_at=dt.datetime(2026, 3, 28, 10, 0, 0, 123)) == soap


@pytest.mark.parametrize(
    "changed",
    [
        _run(run_at="2026-03-29T08:00:00"),
        _run(locked=True),
        _run(start=2, end=3),
    ],
)
def test_a_different_run_at_lock_or_period_range_is_a_change(changed):
    seen = fingerprints([_run()])
    assert changed_runs([changed], seen) == [changed]
    assert changed_runs([_run()], seen) == []


def test_new_runs_come_latest_last_and_the_run_key_names_company_run_and_run_at():
    seen = fingerprints([_run()])
    newer = _run("9", "2026-04-28T10:00:00", False, 4, 4)
    older = _run("8", "2026-04-01T10:00:00", False, 3, 3)
    assert changed_runs([_run(), newer, older], seen) == [older, newer]
    assert run_key("101", newer) == "101:9:2026-04-28T10:00:00"


def test_cursor_round_trips_and_a_broken_cursor_says_how_to_reset_it():
    cursor = RunCursor(seen={"101|2026": fingerprints([_run()])})
    assert RunCursor.parse(cursor.serialise()) == cursor
    assert RunCursor.parse(None) == RunCursor(seen={})
    with pytest.raises(ValueError, match="reset the sensor's cursor"):
        RunCursor.parse("{not json")
