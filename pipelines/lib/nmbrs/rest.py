"""Client for the Nmbrs REST API (`/api/...`): Bearer token + X-Subscription-Key, paginated lists.

`NmbrsRestClient(settings, token_provider)`; token_provider has `access_token(rejected=None)`
(tokens.TokenStore). One requests.Session per client, timeouts on every call, `calls` counts
HTTP requests. Retries (tenacity, bounded): 429 honouring Retry-After, 5xx, connection errors,
timeouts and truncated bodies. A 401 for the token triggers exactly one refresh, then a retry.

Pagination (`pageNumber`, `pageSize`) accepts both shapes of the contract:
`{"data": [...], "pagination": {"totalPages": ...}}` and the same fields at the top level.
Response fields beyond the contract's are modeled (see the sandbox); they are mapped to typed
records in one place here (`_company`, `_run`, `_employee`, `_wage_component`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Protocol

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from pipelines.lib.nmbrs.config import NmbrsSettings
from pipelines.lib.nmbrs.errors import NmbrsError, RestError
from pipelines.lib.nmbrs.records import Company, Employee, PersonalData, RunInfo, WageComponent

PAGE_SIZE = 500
MAX_ATTEMPTS = 6
MAX_RETRY_AFTER = 120.0
SUBSCRIPTION_CODES = {"missing_subscription_key", "invalid_subscription_key"}


class TokenProvider(Protocol):
    def access_token(self, rejected: str | None = None) -> str: ...


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER)
    return min(0.5 * 2 ** (state.attempt_number - 1), 30.0)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, NmbrsError) and exc.retryable


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = dt.datetime.strptime(value, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=dt.UTC)
        except ValueError:
            return None
        return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


class NmbrsRestClient:
    def __init__(
        self, settings: NmbrsSettings, token_provider: TokenProvider, *, max_attempts: int = MAX_ATTEMPTS
    ):
        self.settings = settings
        self.tokens = token_provider
        self.max_attempts = max_attempts
        self.calls = 0
        self.retries = 0
        self.session = requests.Session()
        self.session.headers.update(
            {"X-Subscription-Key": settings.subscription_key, "Accept": "application/json"}
        )

    def __enter__(self) -> NmbrsRestClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    # -- transport ---------------------------------------------------------------------------
    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET one JSON document, with retries and one token refresh on 401."""

        def count_retry(state: RetryCallState) -> None:
            self.retries += 1

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=_wait,
            retry=retry_if_exception(_retryable),
            before_sleep=count_retry,
            reraise=True,
        )
        return retrying(self._get_authorized, path, params or {})

    def _get_authorized(self, path: str, params: dict[str, Any]) -> Any:
        token = self.tokens.access_token()
        try:
            return self._get_once(path, params, token)
        except RestError as exc:
            if exc.status != 401 or getattr(exc, "code", None) in SUBSCRIPTION_CODES:
                raise
        token = self.tokens.access_token(rejected=token)  # exactly one refresh, then one retry
        return self._get_once(path, params, token)

    def _get_once(self, path: str, params: dict[str, Any], token: str) -> Any:
        url = self.settings.rest_url + path
        self.calls += 1
        try:
            response = self.session.get(
                url,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.settings.timeout_seconds,
            )
        except requests.RequestException as exc:
            raise RestError(
                "GET",
                path,
                None,
                f"{type(exc).__name__} (connection failed or timed out)",
                "check NMBRS_REST_URL and the network; retried automatically",
            ) from None
        if response.status_code == 200:
            try:
                return json.loads(response.content, parse_float=Decimal)
            except ValueError:
                raise RestError(
                    "GET",
                    path,
                    None,
                    "the response body is not complete JSON (truncated?)",
                    "retried automatically",
                ) from None
        raise self._error(path, response)

    def _error(self, path: str, response: requests.Response) -> RestError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        code = str(body.get("code") or "")
        status = response.status_code
        if status == 401 and code in SUBSCRIPTION_CODES:
            fix = "set NMBRS_SUBSCRIPTION_KEY to the key of an active Nmbrs API subscription"
        elif status == 401:
            fix = "the access token was refused after a refresh; run `payroll connect` again"
        elif status == 403:
            fix = "allow the scope in your Nmbrs app and run `payroll connect` again (NMBRS_SCOPES)"
        elif status == 404:
            fix = "check the company or run id; it may not exist or not be accessible to this connection"
        elif status == 429:
            fix = "Nmbrs is throttling; retried automatically after Retry-After"
        elif status >= 500:
            fix = "Nmbrs had a server error; retried automatically"
        else:
            fix = "check the request parameters"
        detail = str(body.get("title") or response.reason or "error")
        if code:
            detail += f" ({code})"
        error = RestError("GET", path, status, detail, fix)
        error.code = code
        error.retry_after = (
            _retry_after(response.headers.get("Retry-After")) if status in (429, 503) else None
        )
        return error

    def paginate(
        self, path: str, params: dict[str, Any] | None = None, page_size: int = PAGE_SIZE
    ) -> Iterator[dict]:
        """Every item of a paginated list, page by page (both pagination shapes)."""
        page = 1
        while True:
            body = self.get(path, {**(params or {}), "pageNumber": page, "pageSize": page_size})
            if isinstance(body, list):  # an unpaginated list
                yield from body
                return
            items = body.get("data") or []
            yield from items
            meta = body.get("pagination") if isinstance(body.get("pagination"), dict) else body
            total_pages = meta.get("totalPages")
            if total_pages is None:
                if len(items) < page_size:
                    return
            elif page >= int(total_pages):
                return
            if not items:
                return
            page += 1

    # -- resources ---------------------------------------------------------------------------
    def companies(self) -> list[Company]:
        return [_company(item) for item in self.paginate("/api/companies")]

    def runs(self, company_id: int, year: int) -> list[RunInfo]:
        return [
            _run(company_id, item)
            for item in self.paginate(f"/api/companies/{company_id}/runs", {"year": year})
        ]

    def employees(self, company_id: int) -> list[tuple[Employee, PersonalData]]:
        return [
            _employee(company_id, item) for item in self.paginate(f"/api/companies/{company_id}/employees")
        ]

    def wage_components(self, company_id: int, year: int) -> Iterator[WageComponent]:
        """Fixed then variable wage components (source `rest_fixed` / `rest_variable`)."""
        for kind in ("fixed", "variable"):
            path = f"/api/companies/{company_id}/employees/{kind}wagecomponents"
            for item in self.paginate(path, {"year": year}):
                yield _wage_component(company_id, item, f"rest_{kind}")


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def _datetime(value: Any) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return (
        parsed.replace(tzinfo=None)
        if parsed.tzinfo is None
        else parsed.astimezone(dt.UTC).replace(tzinfo=None)
    )


def _company(item: dict) -> Company:
    return Company(
        company_id=int(item["companyId"]),
        number=str(item.get("number") or ""),
        name=str(item.get("name") or ""),
        period_type=item.get("periodType"),
        kvk_number=item.get("kvkNumber"),
        phone_number=item.get("phoneNumber"),
        email=item.get("email"),
        website=item.get("website"),
    )


def _run(company_id: int, item: dict) -> RunInfo:
    return RunInfo(
        company_id=company_id,
        year=int(item["year"]),
        run_id=str(item["payrollRunId"]),
        run_number=_int_or_none(item.get("number")),
        period_start=_int_or_none(item.get("periodStart")),
        period_end=_int_or_none(item.get("periodEnd")),
        description=item.get("description"),
        run_at=_datetime(item.get("runAt") or item.get("createdAt")),
        is_locked=item.get("locked"),
        run_type=item.get("type"),
    )


def _employee(company_id: int, item: dict) -> tuple[Employee, PersonalData]:
    info = item.get("personalInfo") or {}
    employment = item.get("employment") or {}
    employee = Employee(
        company_id=company_id,
        employee_id=int(item["employeeId"]),
        employee_number=str(item.get("employeeNumber") or ""),
        display_name=info.get("displayName"),
        first_name=info.get("firstName"),
        initials=info.get("initials"),
        prefix=info.get("prefix"),
        last_name=info.get("lastName"),
        gender=info.get("gender"),
        start_period=_int_or_none(employment.get("startPeriod")),
        start_year=_int_or_none(employment.get("startYear")),
        creation_date=_datetime(item.get("createdAt")),
    )
    birth = info.get("birthDate")
    personal = PersonalData(
        company_id=company_id,
        employee_id=employee.employee_id,
        bsn=info.get("bsn"),
        birth_date=dt.date.fromisoformat(str(birth)[:10]) if birth else None,
        email_work=info.get("emailWork"),
    )
    return employee, personal


def _wage_component(company_id: int, item: dict, source: str) -> WageComponent:
    return WageComponent(
        company_id=company_id,
        year=int(item["year"]),
        period=int(item["period"]),
        employee_id=int(item["employeeId"]),
        code=str(item["code"]),
        description=str(item.get("description") or ""),
        value=Decimal(str(item["value"])),
        source=source,
    )
