"""A token without report permission: the load fails at once, is not retried, says what to fix, and
the run-failure sensor posts a short alert (asset, partition, error; no secret) to the webhook."""

from __future__ import annotations

import time

import dagster as dg

from pipelines.defs.automation.failure_sensor import failure_alert
from pipelines.lib.settings import temporary_env
from pipelines.sandbox.contract import ALL_OPERATIONS
from tests.support.webhook import WebhookReceiver


def latest_year_with_runs(sandbox, company: int) -> int:
    """The partition year to load: this year's has no run yet in January."""
    world = sandbox.state.world
    return max(year for year in world.years(company) if world.runs(company, year))


def test_a_token_without_report_permission_fails_fast_without_retries_and_alerts(pipeline):
    sandbox = pipeline.sandbox
    partition = f"102|{latest_year_with_runs(sandbox, 102)}"
    token = sandbox.state.add_token([op for op in ALL_OPERATIONS if not op.startswith("ReportService.")])
    defs = pipeline.definitions()
    job = defs.resolve_job_def("nmbrs_company_year_sync")
    with temporary_env({"NMBRS_SOURCE_MODE": "soap", "NMBRS_TOKEN": token}), pipeline.instance() as instance:
        instance.add_dynamic_partitions("nmbrs_companies", ["101", "102", "103"])
        sandbox.state.counters.reset()
        started = time.monotonic()
        outcome = job.execute_in_process(instance=instance, partition_key=partition, raise_on_error=False)
        elapsed = time.monotonic() - started
        calls = sandbox.state.counters.snapshot()["calls"]
        run = instance.get_run_by_id(outcome.run_id)
        retries = instance.get_records_for_run(
            outcome.run_id,
            of_type={dg.DagsterEventType.STEP_UP_FOR_RETRY, dg.DagsterEventType.STEP_RESTARTED},
        ).records
        failure_event = (
            instance.get_records_for_run(outcome.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            .records[0]
            .event_log_entry.dagster_event
        )

        assert not outcome.success
        assert retries == []
        assert elapsed < 60
        report_calls = {
            key: n for key, n in calls.items() if "ReportService" in key and key.startswith("soap:")
        }
        assert sum(report_calls.values()) == 1, report_calls

        step_failure = outcome.get_step_failure_events()[0]
        error = step_failure.event_specific_data.error
        text = error.to_string()
        assert "1002" in text and "allow" in text and "API user templates" in text
        assert token not in text

        context = dg.build_run_status_sensor_context(
            sensor_name="payroll_run_failure_alert",
            dagster_event=failure_event,
            dagster_instance=instance,
            dagster_run=run,
        ).for_run_failure()
        alert = failure_alert(context)
        assert alert.partition == partition
        assert "nmbrs/payslips" in alert.assets and "nmbrs/wage_components" in alert.assets
        assert "1002" in alert.error

        sensor = defs.resolve_sensor_def("payroll_run_failure_alert")
        with WebhookReceiver() as hook, temporary_env({"PAYROLL_ALERT_WEBHOOK": hook.url}):
            sensor(context)
    assert len(hook.received) == 1
    body = hook.received[0]["body"]
    assert body["job"] == "nmbrs_company_year_sync" and body["partition"] == partition
    assert "nmbrs/payslips" in body["assets"]
    assert "1002" in body["error"] and "Fix:" in body["error"]
    posted = str(body)
    for secret in (token, "sandbox-secret", "sandbox-subscription-key", "demo@payroll.example"):
        assert secret not in posted
