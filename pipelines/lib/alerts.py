"""Failure alerts: a short, personal-data-free message posted to a chat or alerting webhook.

The body is JSON with a `text` field (what Slack, Mattermost, Teams workflows and most alerting
tools show) plus the structured fields, so that a receiver can route on job, asset or partition.
The webhook URL itself is a secret (it authorises posting): it is never logged.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import requests

from pipelines.lib.nmbrs.errors import redact

logger = logging.getLogger(__name__)

ERROR_LIMIT = 300
TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class RunFailureAlert:
    job: str
    run_id: str
    partition: str | None
    assets: tuple[str, ...]
    error: str

    @classmethod
    def build(
        cls, job: str, run_id: str, partition: str | None, assets: list[str], error: str
    ) -> RunFailureAlert:
        """An alert whose error text is stripped of e-mail addresses, BSN-like numbers and tokens."""
        return cls(
            job=job,
            run_id=run_id,
            partition=partition,
            assets=tuple(sorted(set(assets))),
            error=redact(error, limit=ERROR_LIMIT),
        )

    @property
    def text(self) -> str:
        where = f" partition {self.partition}" if self.partition else ""
        assets = ", ".join(self.assets) if self.assets else "no asset"
        return f"Payroll run failed: job {self.job}{where} (assets: {assets}; run {self.run_id}). Error: {self.error}"

    def payload(self) -> dict:
        return {"text": self.text, **asdict(self), "assets": list(self.assets)}


class AlertDeliveryError(RuntimeError):
    """The webhook did not accept the alert."""


def post_alert(webhook_url: str, alert: RunFailureAlert, timeout: float = TIMEOUT_SECONDS) -> None:
    """POST the alert as JSON; raises AlertDeliveryError naming the webhook's host (never its path)."""
    host = urlsplit(webhook_url).netloc.rsplit("@", 1)[-1]
    try:
        response = requests.post(webhook_url, json=alert.payload(), timeout=timeout)
    except requests.RequestException as exc:
        raise AlertDeliveryError(
            f"posting the failure alert for run {alert.run_id} to {host} failed ({type(exc).__name__}). "
            f"Fix: check PAYROLL_ALERT_WEBHOOK and that {host} is reachable"
        ) from None
    if response.status_code >= 300:
        raise AlertDeliveryError(
            f"posting the failure alert for run {alert.run_id} to {host} failed (HTTP {response.status_code}). "
            f"Fix: check PAYROLL_ALERT_WEBHOOK (the URL the chat tool gave you)"
        )
    logger.info("failure alert for run %s delivered to %s", alert.run_id, host)
