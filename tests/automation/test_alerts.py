"""The failure alert a user receives on their webhook: short, structured, without personal data."""

from __future__ import annotations

import pytest

from pipelines.lib.alerts import AlertDeliveryError, RunFailureAlert, post_alert
from tests.support.webhook import WebhookReceiver


def test_alert_is_posted_as_json_with_job_partition_assets_and_error():
    alert = RunFailureAlert.build(
        job="nmbrs_company_year_sync",
        run_id="abc123",
        partition="101|2026",
        assets=["nmbrs/payslips", "nmbrs/payroll_runs", "nmbrs/payslips"],
        error="ReportService.Reports_GetPayslipByRunCompany_v2_Background failed (fault 1002)",
    )
    with WebhookReceiver() as hook:
        post_alert(hook.url, alert)
    assert len(hook.received) == 1
    body = hook.received[0]["body"]
    assert hook.received[0]["content_type"] == "application/json"
    assert body["job"] == "nmbrs_company_year_sync"
    assert body["partition"] == "101|2026"
    assert body["assets"] == ["nmbrs/payroll_runs", "nmbrs/payslips"]
    assert "fault 1002" in body["error"]
    assert "101|2026" in body["text"] and "nmbrs/payslips" in body["text"] and "fault 1002" in body["text"]


def test_alert_error_text_loses_emails_bsn_like_numbers_and_tokens():
    alert = RunFailureAlert.build(
        job="j",
        run_id="r",
        partition=None,
        assets=[],
        error="user jan.jansen@example.nl, employee 123456782, token abcdefghijklmnopqrstuvwxyz0123456789 "
        + "x" * 500,
    )
    assert "jan.jansen@example.nl" not in alert.error
    assert "123456782" not in alert.error
    assert "abcdefghijklmnopqrstuvwxyz0123456789" not in alert.error
    assert len(alert.error) <= 310


def test_a_refused_alert_raises_naming_the_host_but_not_the_secret_path():
    alert = RunFailureAlert.build(job="j", run_id="r1", partition=None, assets=[], error="boom")
    with WebhookReceiver(status=500) as hook, pytest.raises(AlertDeliveryError) as failure:
        post_alert(hook.url, alert)
    message = str(failure.value)
    assert "HTTP 500" in message and "127.0.0.1" in message and "PAYROLL_ALERT_WEBHOOK" in message
    assert "secret-path" not in message


def test_an_unreachable_webhook_raises_a_clear_error_quickly():
    alert = RunFailureAlert.build(job="j", run_id="r1", partition=None, assets=[], error="boom")
    with WebhookReceiver() as hook:
        url = hook.url
    with pytest.raises(AlertDeliveryError, match="ConnectionError"):
        post_alert(url, alert, timeout=2)
