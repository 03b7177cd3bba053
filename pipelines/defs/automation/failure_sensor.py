"""Run-failure alerts: every failed run is logged, and posted to PAYROLL_ALERT_WEBHOOK when set.

The message names the job, the partition, the assets of the failed steps and the error's first line
with e-mail addresses, BSN-like numbers and token-like strings removed; never a stack trace.
"""

from __future__ import annotations

import dagster as dg

from pipelines.defs import keys
from pipelines.defs.automation.status import default_sensor_status
from pipelines.lib.alerts import AlertDeliveryError, RunFailureAlert, post_alert
from pipelines.lib.automation_settings import AutomationSettings


def _innermost_error(error) -> str:
    while error is not None and error.cause is not None:
        error = error.cause
    if error is None:
        return ""
    lines = [line for line in (error.message or "").splitlines() if line.strip()]
    return lines[0].strip() if lines else error.cls_name or ""


def _failed_assets(context: dg.RunFailureSensorContext, failed_steps: set[str]) -> list[str]:
    records = context.instance.get_records_for_run(
        context.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    assets = []
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.asset_key is not None and event.step_key in failed_steps:
            assets.append(event.asset_key.to_user_string())
    return assets


def failure_alert(context: dg.RunFailureSensorContext) -> RunFailureAlert:
    """The alert for the failed run in the context: the first failed step's error, or the run's."""
    step_failures = context.get_step_failure_events()
    if step_failures:
        error = _innermost_error(step_failures[0].event_specific_data.error)
    else:
        data = context.failure_event.event_specific_data
        error = _innermost_error(getattr(data, "error", None)) or context.failure_event.message or ""
    run = context.dagster_run
    return RunFailureAlert.build(
        job=run.job_name,
        run_id=run.run_id,
        partition=run.tags.get(keys.PARTITION_TAG),
        assets=_failed_assets(context, {event.step_key for event in step_failures if event.step_key}),
        error=error or "the run failed without an error message; open the run in the Dagster UI",
    )


@dg.run_failure_sensor(
    name="payroll_run_failure_alert",
    description="Logs every failed run and posts it to PAYROLL_ALERT_WEBHOOK when that is set.",
    default_status=default_sensor_status(),
    minimum_interval_seconds=30,
)
def payroll_run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    alert = failure_alert(context)
    context.log.error(alert.text)
    webhook = AutomationSettings.from_env().alert_webhook
    if webhook is None:
        return
    try:
        post_alert(webhook, alert)
    except AlertDeliveryError as exc:
        context.log.error(str(exc))
