"""Errors raised by the Nmbrs clients, the report parser and the token store.

Every error names the operation, what went wrong and the fix. None of them carries a token, a
secret or personal data: Nmbrs's own fault text is only kept (redacted) for codes we do not know.

`retryable` tells callers (the SOAP/REST retry loops, Dagster retry policies) whether trying the
same call again can help: True for transport errors, HTTP 5xx/429 and Nmbrs 1006; False for
authentication, permission and data-rights faults, which need the user to change something.
REST errors carry the vendor's integer `code` (docs/nmbrs-api.md); 42909 (plan quota exhausted) is
never retryable, a plain 429 is (after Retry-After).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class NmbrsError(RuntimeError):
    """Base of every error the Nmbrs clients raise."""

    retryable: bool = False


class NmbrsTransportError(NmbrsError):
    """The request did not get a usable answer: connection refused/reset, timeout, 5xx, truncated body."""

    retryable = True


@dataclass(frozen=True)
class FaultInfo:
    meaning: str
    fix: str
    retryable: bool = False


# One entry per SOAP fault code (docs/nmbrs-api.md). `{operation}` is filled in.
FAULTS: dict[int, FaultInfo] = {
    1001: FaultInfo(
        "invalid authentication (user, token or domain)",
        "check NMBRS_USERNAME (the e-mail address of the Nmbrs user who created the API token), "
        "NMBRS_TOKEN and NMBRS_DOMAIN (leave NMBRS_DOMAIN unset to discover it)",
    ),
    1002: FaultInfo(
        "the API token's template does not allow {operation}",
        "allow {operation} in Nmbrs under API user templates",
    ),
    1003: FaultInfo(
        "the API user has no rights to this data",
        "give the API user access to the debtor and companies in Nmbrs (debtor/company filters)",
    ),
    1004: FaultInfo(
        "the Nmbrs environment has no valid API subscription",
        "activate the API subscription for this environment in Nmbrs",
    ),
    1006: FaultInfo(
        "Nmbrs reported a login security failure",
        "retry later; if it persists, check the API user's login security settings in Nmbrs",
        retryable=True,
    ),
    2003: FaultInfo(
        "the API user has no rights to this employee",
        "give the API user access to the employee's company in Nmbrs (company filters)",
    ),
    2004: FaultInfo(
        "the API user has no rights to this company (or it does not exist)",
        "give the API user access to the company in Nmbrs, or remove the company from the sync",
    ),
    2006: FaultInfo(
        "the period does not match the company's period type",
        "request periods of the company's own period type (Month, Week4, ...)",
    ),
    2009: FaultInfo(
        "the API user has no rights to this debtor",
        "give the API user access to the debtor in Nmbrs (debtor filters)",
    ),
    2019: FaultInfo(
        "the report task's status is not available",
        "start the report again; Nmbrs may have expired the task",
        retryable=True,
    ),
    2020: FaultInfo(
        "the report task's status is not available",
        "start the report again; Nmbrs may have expired the task",
        retryable=True,
    ),
    2021: FaultInfo(
        "the report task returned an invalid result",
        "start the report again; contact Nmbrs support if it keeps failing",
    ),
    2042: FaultInfo(
        "the API user exists in several Nmbrs environments",
        "set NMBRS_DOMAIN to the environment's domain (the part before .nmbrs.nl)",
    ),
    2043: FaultInfo(
        "the Nmbrs domain is invalid",
        "fix NMBRS_DOMAIN, or unset it so that the domain is discovered with DebtorService.Environment_Get",
    ),
    2046: FaultInfo(
        "the requested item was not found",
        "check the company, run or task id; it may have been removed in Nmbrs",
    ),
    9999: FaultInfo(
        "Nmbrs reported an unknown error",
        "retry later; contact Nmbrs support if it persists",
        retryable=True,
    ),
}

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_LONG_NUMBER = re.compile(r"\b\d{8,}\b")
_LONG_TOKEN = re.compile(r"\b[A-Za-z0-9_\-]{24,}\b")


def redact(text: str, limit: int = 200) -> str:
    """Remove e-mail addresses, BSN-like numbers and token-like strings from a server message."""
    text = _EMAIL.sub("<e-mail>", text)
    text = _LONG_NUMBER.sub("<number>", text)
    text = _LONG_TOKEN.sub("<redacted>", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


class NmbrsFault(NmbrsError):
    """A SOAP fault from Nmbrs, by its code (`---> 1002: ...` in the fault text)."""

    def __init__(self, code: int | None, operation: str, message: str = ""):
        self.code = code
        self.operation = operation
        info = FAULTS.get(code) if code is not None else None
        if info is None:
            self.meaning = f"Nmbrs returned fault {code}" if code else "Nmbrs returned a fault"
            if message:
                self.meaning += f": {redact(message)}"
            self.fix = "check the settings with `payroll doctor`; contact Nmbrs support if it persists"
            self.retryable = code is None or code >= 9000
        else:
            self.meaning = info.meaning.format(operation=operation)
            self.fix = info.fix.format(operation=operation)
            self.retryable = info.retryable
        label = f"fault {code}" if code is not None else "fault"
        super().__init__(f"{operation} failed ({label}): {self.meaning}. Fix: {self.fix}")


_FAULT_CODE = re.compile(r"--->\s*(\d{3,5})\s*:")


def fault_code(text: str) -> int | None:
    """The Nmbrs code in a fault text such as `... ---> 1002: Insufficient rights`, if any."""
    match = _FAULT_CODE.search(text or "")
    return int(match.group(1)) if match else None


class ReportTaskError(NmbrsError):
    """A background report task ended with status Error or Unknown."""

    def __init__(self, task_id: str, status: str, what: str = "report"):
        self.task_id = task_id
        self.status = status
        super().__init__(
            f"ReportService.Reports_BackgroundTask_Result: the {what} task {task_id} ended with status "
            f"{status}. Fix: run the sync for this partition again; if it keeps failing, check the "
            f"report in Nmbrs or contact Nmbrs support"
        )


class ReportTimeout(NmbrsError):
    """Background tasks were still Enqueued/Executing when the overall deadline passed."""

    def __init__(self, task_ids: list[str], deadline_seconds: float):
        self.task_ids = list(task_ids)
        self.deadline_seconds = deadline_seconds
        super().__init__(
            f"ReportService.Reports_BackgroundTask_Result: {len(task_ids)} report task(s) "
            f"({', '.join(task_ids[:3])}{', ...' if len(task_ids) > 3 else ''}) were not ready after "
            f"{deadline_seconds:.0f} s. Fix: Nmbrs is busy; run the sync again later, or raise the "
            f"deadline (NMBRS_REPORT_DEADLINE_SECONDS)"
        )


class ReportDownloadTimeout(NmbrsError):
    """A finished report's download took longer than NMBRS_REPORT_DEADLINE_SECONDS (a drip-fed answer):
    refused and not retried within the sync (the next sync asks again)."""

    def __init__(self, what: str, deadline_seconds: float, received: int):
        self.deadline_seconds = deadline_seconds
        super().__init__(
            f"{what}: the report download did not complete within {deadline_seconds:g} s "
            f"(NMBRS_REPORT_DEADLINE_SECONDS; {received:,} bytes received); the connection was closed. "
            "Fix: Nmbrs is slow; run the sync again later, or raise NMBRS_REPORT_DEADLINE_SECONDS"
        )


class ReportContentError(NmbrsError):
    """A report's XML cannot be loaded as it is: a missing element, a bad number, unsafe XML."""


class RestError(NmbrsError):
    """A REST call failed. `status` is the HTTP status (None for transport errors), `code` the
    vendor's integer error code when the body carried one, `retry_after` the seconds Nmbrs asked for."""

    def __init__(
        self,
        method: str,
        path: str,
        status: int | None,
        detail: str,
        fix: str,
        *,
        code: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ):
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.retryable = (
            (status is None or status == 429 or status >= 500) if retryable is None else retryable
        )
        where = f"{method} {path}"
        got = f"HTTP {status}" if status is not None else "no response"
        if code is not None:
            got += f", code {code}"
        super().__init__(f"Nmbrs REST {where} failed ({got}): {detail.rstrip('.')}. Fix: {fix}")


class QuotaExhausted(RestError):
    """42909: the subscription plan's call volume is used up. It resets with the billing cycle, so
    retrying within a sync cannot help."""


class MultiDebtorConsent(RestError):
    """40306: the endpoint does not answer a token consented for several debtors (not a scope problem)."""


class DocumentTimeout(NmbrsError):
    """REST document tasks still answered 202 when the overall deadline passed."""

    def __init__(self, what: list[str], deadline_seconds: float):
        self.what = list(what)
        self.deadline_seconds = deadline_seconds
        shown = ", ".join(what[:3]) + (", ..." if len(what) > 3 else "")
        super().__init__(
            f"Nmbrs REST GET /api/documents: {len(what)} document(s) ({shown}) were still being processed "
            f"after {deadline_seconds:.0f} s. Fix: Nmbrs is busy; run the sync again later, or raise the "
            "deadline (NMBRS_REPORT_DEADLINE_SECONDS)"
        )


class OAuthError(NmbrsError):
    """The identity service refused a request (bad client credentials, invalid scope, bad code)."""


class ReconnectRequired(OAuthError):
    """No usable refresh token: the user must run `payroll connect` (again)."""

    def __init__(self, reason: str = "the stored Nmbrs refresh token was rejected"):
        super().__init__(f"{reason}; run `payroll connect` again")
