"""Issue 16, items 3 and 5: unbounded, repeated, drip-fed and DOCTYPE answers from a hostile Nmbrs.

Each test runs a real `payroll sync --company 103 --no-dbt` in a child process against the
reliability suite's reference pipeline while the sandbox serves one hostile variant of its answers
(fault kinds `repeat`, `drip`, `doctype`: docs/sandbox.md), and asserts the exit code, the line the
user sees, how often the hostile answer was asked for, and that every raw table is unchanged.
The 200 MB listing is measured by `python -m benchmarks.hostile_listing [--chunked]` (docs/reliability.md).
"""

from __future__ import annotations

import subprocess
import time

import pytest

from pipelines.lib.nmbrs.config import NmbrsSettings
from pipelines.lib.nmbrs.errors import ReportDownloadTimeout
from pipelines.lib.nmbrs.soap import NmbrsSoapClient
from tests.support.pipeline import PAYROLL, differing, raw_only, record_figure

pytestmark = pytest.mark.reliability

LIST_GET_ALL = "soap:CompanyService.List_GetAll"
PERSONAL_INFO = "soap:EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany"
TASK_RESULT = "soap:ReportService.Reports_BackgroundTask_Result"


def _sync(pipeline, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run(
        [PAYROLL, "sync", "--company", "103", "--no-dbt", *args],
        env={**pipeline.subprocess_env(), **env},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return result, time.monotonic() - started


def _failed(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("FAILED ")]


def _raw_unchanged(reference) -> None:
    assert differing(raw_only(reference.pipeline.hashes()), raw_only(reference.hashes)) == []


@pytest.mark.parametrize("listing", [LIST_GET_ALL, "rest:companies"])
def test_a_listing_that_repeats_one_company_loads_it_once(reference, listing):
    sandbox = reference.sandbox
    counters = sandbox.state.counters
    before = counters.snapshot()
    rule = sandbox.state.faults.inject(listing, "repeat", times=None, count=2000)
    try:
        result, seconds = _sync(reference.pipeline)
    finally:
        sandbox.state.faults.clear()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert rule.fired >= 1
    rows = reference.pipeline.query("select count(*), count(distinct company_id) from nmbrs.companies")
    assert rows == [(3, 3)]  # one row per company, as its unique key (company_id) says
    personal_info_calls = counters.snapshot()["calls"].get(PERSONAL_INFO, 0) - before["calls"].get(
        PERSONAL_INFO, 0
    )
    assert personal_info_calls == 3, "one employee listing per distinct company, not per repeat"
    _raw_unchanged(reference)
    record_figure(
        "16_3_repeated_listing",
        **{listing: f"2000 repeats: exit 0, 3 companies, 3 PersonalInfo calls, {seconds:.0f} s"},
    )


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_listing_larger_than_the_cap_is_refused_once_and_nothing_changes(reference, chunked):
    """With Content-Length the size is refused before reading; without (chunked), after reading 1 MB."""
    sandbox = reference.sandbox
    rule = sandbox.state.faults.inject(
        LIST_GET_ALL, "repeat", times=None, count=12000, chunked=chunked
    )  # about 4 MB
    try:
        result, seconds = _sync(reference.pipeline, NMBRS_MAX_RESPONSE_MB="1")
    finally:
        sandbox.state.faults.clear()
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    failed = _failed(result)
    assert len(failed) == 1 and failed[0].startswith("FAILED nmbrs reference data"), output[-3000:]
    line = failed[0]
    assert "CompanyService.List_GetAll: the answer" in line, line
    assert "more than the limit of 1 MB (NMBRS_MAX_RESPONSE_MB)" in line and "not retried" in line, line
    assert "Fix:" in line, line
    assert rule.fired == 1, "a refused size is never asked for again"
    _raw_unchanged(reference)
    record_figure(
        "16_3_listing_cap",
        **{
            "chunked" if chunked else "content-length": f"4 MB, cap 1 MB: exit 1, asked once, {seconds:.0f} s"
        },
    )


@pytest.mark.parametrize("target", [LIST_GET_ALL, "rest:companies"])
def test_a_drip_fed_answer_is_cut_at_the_timeout_and_the_retry_recovers(reference, target):
    sandbox = reference.sandbox
    rule = sandbox.state.faults.inject(target, "drip", bytes_per_second=20)
    try:
        result, seconds = _sync(reference.pipeline, NMBRS_TIMEOUT_SECONDS="3")
    finally:
        sandbox.state.faults.clear()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert rule.fired == 1 and len(rule.served) == 1
    assert rule.served[0] < 3 + 1.5, f"the dripped answer ran {rule.served[0]} s past a 3 s timeout"
    _raw_unchanged(reference)
    record_figure(
        "16_5_drip",
        **{
            target: f"cut after {rule.served[0]:.1f} s (timeout 3 s, 20 bytes/s); sync exit 0 in {seconds:.0f} s"
        },
    )


def test_a_doctype_in_the_envelope_is_refused_and_never_retried(reference):
    sandbox = reference.sandbox
    rule = sandbox.state.faults.inject("soap:DebtorService.Environment_Get", "doctype", times=None)
    try:
        result, seconds = _sync(reference.pipeline)
    finally:
        sandbox.state.faults.clear()
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    failed = _failed(result)
    assert len(failed) == 1, output[-3000:]
    assert "DebtorService.Environment_Get: the answer declares a DOCTYPE or entities" in failed[0]
    assert "not retried" in failed[0] and "Fix:" in failed[0]
    assert rule.fired == 1, "a refusal for content is never retried"
    _raw_unchanged(reference)
    record_figure("16_5_doctype", envelope=f"refused once, 0 retries, exit 1 in {seconds:.0f} s")


def test_a_doctype_in_a_report_task_answer_fails_each_partition_once(soap_reference):
    reference = soap_reference  # the SOAP reports: source mode soap
    sandbox = reference.sandbox
    rule = sandbox.state.faults.inject(TASK_RESULT, "doctype", times=None)
    try:
        result, seconds = _sync(reference.pipeline, "--full-refresh")
    finally:
        sandbox.state.faults.clear()
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    failed = _failed(result)
    assert len(failed) == 2, output[-3000:]  # both company-years of company 103
    for line in failed:
        assert "Reports_BackgroundTask_Result: the response declares a DOCTYPE or entities" in line, line
        assert "not retried" in line
    assert rule.fired == 2, "one status poll per partition, none retried"
    _raw_unchanged(reference)
    record_figure("16_5_doctype", task_result=f"2 partitions refused, 2 requests, exit 1 in {seconds:.0f} s")


def test_a_drip_fed_report_download_stops_at_the_report_deadline(soap_reference):
    reference = soap_reference  # the SOAP reports: source mode soap
    """The streamed report keeps a deadline of its own: NMBRS_REPORT_DEADLINE_SECONDS bounds the download."""
    sandbox = reference.sandbox
    settings = NmbrsSettings(
        soap_url=f"{sandbox.url}/soap/v3/",
        username="demo@payroll.example",
        token="sandbox-token",
        domain="payrolldemo",
        timeout_seconds=10,
        report_deadline_seconds=3,
    )
    year = sandbox.state.config.first_year  # a full year of runs, whatever the day
    with NmbrsSoapClient(settings, poll_interval=(0.2, 0.5), max_attempts=1) as client:
        task = client.start_wage_component_report(103, year)
        client.wait_for_reports([task])
        rule = sandbox.state.faults.inject(TASK_RESULT, "drip", bytes_per_second=20)
        started = time.monotonic()
        try:
            with pytest.raises(ReportDownloadTimeout) as raised:
                list(client.report_lines(task, kind="period", year=year))
        finally:
            sandbox.state.faults.clear()
        seconds = time.monotonic() - started
    assert "did not complete within 3 s (NMBRS_REPORT_DEADLINE_SECONDS" in str(raised.value)
    assert seconds < 3 + 1.5, seconds
    assert rule.fired == 1
    record_figure("16_5_drip", report=f"report download refused after {seconds:.1f} s (deadline 3 s)")


def test_one_company_id_with_two_contents_is_refused_naming_the_id(reference):
    sandbox = reference.sandbox
    rule = sandbox.state.faults.inject(LIST_GET_ALL, "repeat", times=None, count=3, vary=True)
    try:
        result, seconds = _sync(reference.pipeline)
    finally:
        sandbox.state.faults.clear()
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    failed = _failed(result)
    assert len(failed) == 1 and failed[0].startswith("FAILED nmbrs reference data"), output[-3000:]
    assert (
        "CompanyService.List_GetAll: Nmbrs's answer lists company 101 twice with different content"
        in (failed[0])
    )
    assert "the previous rows are kept" in failed[0] and "Fix:" in failed[0]
    assert rule.fired == 1, "a listing that contradicts itself is not asked for again"
    _raw_unchanged(reference)
    record_figure(
        "16_3_repeated_listing", conflicting=f"one id, two contents: exit 1, asked once, {seconds:.0f} s"
    )
