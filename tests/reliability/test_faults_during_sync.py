"""Scenarios 3 and 4 at the level a user sees them: whole syncs against a faulty Nmbrs.

- The sandbox's `faults` scenario (every preset fault once, slow tasks, comma decimals) plus the
  REST faults the rest+soap mode meets, with a 2 s client timeout: the sync recovers, and the raw
  tables equal the reference sync of the same data, row for row.
- Faults a retry cannot fix (a permission fault, a task stuck past the deadline, a task that keeps
  ending in Unknown) fail the partition with the documented error and leave its rows as they were.
Client-level cases (each fault code, each transport fault, one refresh on a 401 mid-pagination) are
proved in tests/lib/test_soap.py and tests/lib/test_rest_oauth.py.
"""

from __future__ import annotations

import time

import pytest

from pipelines.lib.settings import temporary_env
from tests.support.pipeline import differing, new_pipeline, record_figure, step_errors
from tests.support.sandboxes import sandboxes

pytestmark = pytest.mark.reliability

RAW_NMBRS = ("nmbrs", "nmbrs_restricted")
RESULT_CALL = "soap:ReportService.Reports_BackgroundTask_Result"
WAGE_REPORT_CALL = "soap:ReportService.Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background"
PAYSLIP_REPORT_CALL = "soap:ReportService.Reports_GetPayslipByRunCompany_v2_Background"
DOCUMENT_CALL = "rest:documents"
# Preset faults (pipelines/sandbox/faults.py) on calls the rest+soap sync does not make: it reads the
# payroll from REST (run output, journals) and calls SOAP only for List_GetAll, PersonalInfo and
# Environment_Get (the cross-check); the SOAP runs and reports are read in soap mode only.
NOT_CALLED_IN_REST_SOAP: set[str] = {
    "soap:CompanyService.Run_GetList 500",
    f"{WAGE_REPORT_CALL} task_error",
    f"{PAYSLIP_REPORT_CALL} task_unknown",
    f"{RESULT_CALL} reset",
    f"{RESULT_CALL} fault",
}


def test_a_sync_through_every_transient_fault_recovers_and_equals_the_clean_sync(
    reference, make_database, tmp_path_factory
):
    with sandboxes() as start:
        sandbox = start("faults")
        faults = sandbox.state.faults
        # rest+soap lists companies, runs and employees over REST: give those calls faults too.
        faults.inject("rest:companies", "503")
        # after=1: each lets the first runs call through, then fires on the next call that reaches it.
        faults.inject("rest:runs", "500", after=1)
        faults.inject("rest:runs", "truncate", after=1)
        faults.inject("rest:runs", "reset", after=1)
        faults.inject("rest:runs", "slow", after=1, seconds=3)  # longer than the 2 s client timeout
        faults.inject(DOCUMENT_CALL, "truncate", after=8)  # a run output or journal, cut off
        faults.inject(DOCUMENT_CALL, "503", after=10)
        pipeline = new_pipeline(
            make_database,
            tmp_path_factory.mktemp("faults-home"),
            sandbox,
            NMBRS_TIMEOUT_SECONDS="2",
            NMBRS_SOURCE_MODE="rest+soap",
        )
        started = time.monotonic()
        result = pipeline.sync(include_dbt=False)
        seconds = time.monotonic() - started
        assert result.success, step_errors(result)

        fired = {f"{rule.target} {rule.kind}": rule.fired for rule in faults.rules()}
        expected = {
            name: 0 if name in NOT_CALLED_IN_REST_SOAP else rule.times
            for name, rule in zip(fired, faults.rules(), strict=True)
        }
        assert fired == expected, "every injected fault on a call the sync makes must have happened"
        calls = sandbox.state.counters.snapshot()["calls"]
        # One authorization-code exchange, then exactly one refresh for the 401 on the employees call.
        assert calls["identity:token"] == 2
        assert differing(pipeline.hashes(RAW_NMBRS), _nmbrs_only(reference.hashes)) == []
    record_figure(
        "3_4_faults_scenario_sync",
        faults_fired=sum(fired.values()),
        fault_kinds=sorted({key.split()[1] for key in fired}),
        dagster_step_retries=sum(step.retries for step in result.steps),
        requests=sum(n for key, n in calls.items() if key.startswith(("soap:", "rest:"))),
        token_refreshes=calls["identity:token"] - 1,
        seconds=round(seconds, 1),
        rows_compared=sum(rows for rows, _ in _nmbrs_only(reference.hashes).values()),
    )


def _nmbrs_only(hashes):
    return {name: value for name, value in hashes.items() if name.split(".")[0] in RAW_NMBRS}


def _failed_sync(reference, **kwargs):
    started = time.monotonic()
    result = reference.pipeline.sync(companies=[103], include_dbt=False, full_refresh=True, **kwargs)
    seconds = time.monotonic() - started
    assert not result.success
    failures = result.failures
    assert failures and all(step.partition for step in failures), step_errors(result)
    return result, failures, seconds


def test_a_permission_fault_fails_at_once_with_the_fix_and_keeps_the_partition(soap_reference):
    reference = soap_reference  # SOAP runs and reports: source mode soap
    pipeline, sandbox = reference.pipeline, reference.sandbox
    sandbox.state.faults.inject("soap:CompanyService.Run_GetList", "fault", times=None, code=1002)
    try:
        result, failures, seconds = _failed_sync(reference)
    finally:
        sandbox.state.faults.clear()
    for step in failures:
        assert "CompanyService.Run_GetList failed (fault 1002)" in step.error
        assert "Fix: allow CompanyService.Run_GetList in Nmbrs under API user templates" in step.error
        assert step.retries == 0, "a permission fault cannot be fixed by retrying"
    assert differing(pipeline.hashes(), reference.hashes) == []
    record_figure(
        "4_soap_permission_fault", failed_partitions=len(failures), step_retries=0, seconds=round(seconds, 1)
    )


def test_a_task_executing_past_the_deadline_fails_clearly_and_keeps_the_partition(soap_reference):
    reference = soap_reference  # SOAP runs and reports: source mode soap
    pipeline, sandbox = reference.pipeline, reference.sandbox
    sandbox.state.faults.inject(WAGE_REPORT_CALL, "task_slow", times=None, seconds=120)
    try:
        with temporary_env({"NMBRS_REPORT_DEADLINE_SECONDS": "3"}):
            result, failures, seconds = _failed_sync(reference)
    finally:
        sandbox.state.faults.clear()
    for step in failures:
        assert "were not ready after 3 s" in step.error and "NMBRS_REPORT_DEADLINE_SECONDS" in step.error
        assert step.retries == 0
    assert seconds < 90, f"the deadline of 3 s took {seconds:.0f} s to fire"
    assert differing(pipeline.hashes(), reference.hashes) == []
    record_figure(
        "4_task_past_deadline", failed_partitions=len(failures), deadline_seconds=3, seconds=round(seconds, 1)
    )


def test_a_task_that_keeps_ending_in_unknown_is_retried_then_fails_clearly(soap_reference):
    reference = soap_reference  # SOAP runs and reports: source mode soap
    pipeline, sandbox = reference.pipeline, reference.sandbox
    sandbox.state.faults.inject(PAYSLIP_REPORT_CALL, "task_unknown", times=None)
    sandbox.state.faults.inject(WAGE_REPORT_CALL, "task_error", times=None)
    try:
        result, failures, seconds = _failed_sync(reference)
    finally:
        sandbox.state.faults.clear()
    for step in failures:
        assert "ended with status Unknown" in step.error or "ended with status Error" in step.error
        assert "Fix: run the sync for this partition again" in step.error
        assert step.retries == 3, "a failed report task is worth a new task: the retry policy's 3 retries"
    assert differing(pipeline.hashes(), reference.hashes) == []
    record_figure(
        "4_task_error_unknown",
        failed_partitions=len(failures),
        step_retries=sum(step.retries for step in failures),
        seconds=round(seconds, 1),
    )
