"""Client for the Nmbrs REST API (`/api/...`), as the vendor's OpenAPI document describes it.

`NmbrsRestClient(settings, token_provider)`; token_provider has `access_token(rejected=None)`
(tokens.TokenStore). One requests.Session per client, a timeout on every call, `calls` counts HTTP
requests. The facts it relies on are in docs/nmbrs-api.md:
- Every request sends `Authorization: Bearer` and `X-Subscription-Key`. Ids are UUID strings and stay
  strings (rest_records.py); REST ids are never passed to SOAP (id_join.py relates the two).
- Lists are paged with `pageNumber`/`pageSize`; pageSize is at most 100 (Nmbrs rejects more).
- Errors carry an integer `code`. 42909 (quota exhausted) fails at once; a plain 429 waits for
  Retry-After; 502/503 (and 500), connection errors, timeouts and truncated bodies are retried
  (tenacity, bounded); a 401 for the token (40101/40102) refreshes it once, then retries once;
  40303/40305 name the company the login cannot see; 40306 on `/api/companies` falls back to
  `/api/debtors` + `/api/debtors/{debtorId}/companies`.
- Run output and journals are documents: every task of a batch is started first, then
  `/api/documents/{taskId}` is polled (202 until ready) with a doubling wait and one deadline.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from pipelines.lib.nmbrs import rest_records as records
from pipelines.lib.nmbrs.bounded import read_body
from pipelines.lib.nmbrs.config import NmbrsSettings, poll_interval
from pipelines.lib.nmbrs.documents import (
    JOURNAL_VARIANTS,
    JournalLine,
    RunOutputLine,
    parse_journal,
    parse_run_output,
)
from pipelines.lib.nmbrs.errors import (
    DocumentTimeout,
    MultiDebtorConsent,
    NmbrsError,
    QuotaExhausted,
    ReportContentError,
    RestError,
)
from pipelines.lib.nmbrs.records import unique_by_id
from pipelines.lib.nmbrs.reports import DriftRecorder
from pipelines.lib.nmbrs.rest_records import (
    EnteredWageComponent,
    RestAssignment,
    RestCompany,
    RestDebtor,
    RestEmployee,
    RestPersonalInfo,
    RestRun,
)

MAX_PAGE_SIZE = 100  # Nmbrs rejects a larger pageSize with a 400 validation error
MAX_ATTEMPTS = 6
# A listing is bounded too: past this many pages (1,000,000 items at 100 a page) it is refused, so a
# server that declares endless pages cannot keep a sync asking (bounded.py bounds each page).
MAX_PAGES = 10_000
MAX_RETRY_AFTER = 120.0
TOKEN_CODES = {40101, 40102}  # no token, invalid or expired token: one refresh helps
DATA_ACCESS_CODES = {40303, 40305}
# The scope each path needs (the vendor's OpenAPI document), to name it when a 403 is about scope.
PATH_SCOPES = (
    (re.compile(r"/wagecodes/xml$|/journals\w*$"), "company.document.read"),
    (re.compile(r"^/api/documents/"), "document.read"),
    (re.compile(r"/runs(/[^/]+/employees)?$"), "company.payrollsettings.read"),
    (
        re.compile(r"/costcenters$|/fixedWageComponents$|/variablewagecomponents$", re.I),
        "employee.payment.read",
    ),
    (re.compile(r"/employees(/personalinfo|/departments)?$"), "employee.info.read"),
    (re.compile(r"^/api/(companies|debtors)"), "company.info.read"),  # also /api/companies/{id}/period
)
_COMPANY_IN_PATH = re.compile(r"^/api/companies/([^/]+)")


class TokenProvider(Protocol):
    def access_token(self, rejected: str | None = None) -> str: ...


@dataclass(frozen=True)
class DocumentTask:
    """A started document task and what it is, for messages."""

    task_id: str
    what: str


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


def _scope_for(path: str) -> str | None:
    return next((scope for pattern, scope in PATH_SCOPES if pattern.search(path)), None)


class NmbrsRestClient:
    def __init__(
        self,
        settings: NmbrsSettings,
        token_provider: TokenProvider,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        poll: tuple[float, float] | None = None,
    ):
        self.settings = settings
        self.tokens = token_provider
        self.max_attempts = max_attempts
        self.poll = poll or poll_interval(settings.rest_url)
        self.calls = 0
        self.retries = 0
        self._companies: dict[str, RestCompany] = {}
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
    def send(self, path: str, params: dict[str, Any] | None = None) -> requests.Response:
        """GET one resource (answered 200 or 202), with retries and one token refresh on a 401."""

        def count_retry(state: RetryCallState) -> None:
            self.retries += 1

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=_wait,
            retry=retry_if_exception(_retryable),
            before_sleep=count_retry,
            reraise=True,
        )
        return retrying(self._send_authorized, path, params or {})

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET one JSON document (amounts as Decimal)."""
        response = self.send(path, params)
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

    def _send_authorized(self, path: str, params: dict[str, Any]) -> requests.Response:
        token = self.tokens.access_token()
        try:
            return self._send_once(path, params, token)
        except RestError as exc:
            if exc.status != 401 or exc.code not in TOKEN_CODES:
                raise
        token = self.tokens.access_token(rejected=token)  # exactly one refresh, then one retry
        return self._send_once(path, params, token)

    def _send_once(self, path: str, params: dict[str, Any], token: str) -> requests.Response:
        """One GET, read whole within its deadline and NMBRS_MAX_RESPONSE_MB (bounded.py): the timeout
        for lists, NMBRS_REPORT_DEADLINE_SECONDS for a document's content."""
        self.calls += 1
        document = path.startswith("/api/documents/")
        started = time.monotonic()
        try:
            response = self.session.get(
                self.settings.rest_url + path,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.settings.timeout_seconds,
                stream=True,
            )
            response._content = read_body(
                response,
                f"Nmbrs REST GET {path}",
                seconds=self.settings.report_deadline_seconds if document else self.settings.timeout_seconds,
                setting="NMBRS_REPORT_DEADLINE_SECONDS" if document else "NMBRS_TIMEOUT_SECONDS",
                limit=self.settings.max_response_bytes,
                started=started,
            )
        except requests.RequestException as exc:
            raise RestError(
                "GET",
                path,
                None,
                f"{type(exc).__name__} (connection failed, timed out or broke off)",
                "check NMBRS_REST_URL and the network; retried automatically",
            ) from None
        if response.status_code in (200, 202):
            return response
        raise self._error(path, response)

    def _error(self, path: str, response: requests.Response) -> RestError:
        """The vendor's error body (`{type, httpStatus, code, title, detail, invalid-params}`) as a
        RestError whose fix says what to do; the gateway's own `{statusCode, message}` for a bad key."""
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        status = response.status_code
        code = body.get("code") if isinstance(body.get("code"), int) else None
        detail = str(
            body.get("detail") or body.get("title") or body.get("message") or response.reason or "error"
        )
        invalid = [
            f"{p.get('name')}: {p.get('reason')}"
            for p in body.get("invalid-params") or []
            if isinstance(p, dict)
        ]
        if invalid:
            detail += " (" + "; ".join(invalid) + ")"
        retry_after = _retry_after(response.headers.get("Retry-After")) if status in (429, 503) else None
        kind, fix = RestError, self._fix(path, status, code, body)
        if code == 42909:
            kind, detail = QuotaExhausted, "quota exhausted: the subscription plan's call volume is used up"
        elif code == 40306:
            kind = MultiDebtorConsent
        retryable = False if kind is QuotaExhausted else None
        return kind("GET", path, status, detail, fix, code=code, retry_after=retry_after, retryable=retryable)

    def _fix(self, path: str, status: int, code: int | None, body: dict) -> str:
        if status == 401 and code is None and "subscription key" in str(body.get("message", "")).lower():
            return "set NMBRS_SUBSCRIPTION_KEY to the key of an active Nmbrs API subscription"
        if status == 401:
            return "the access token was refused after a refresh; run `payroll connect` again"
        if code in DATA_ACCESS_CODES:
            return (
                f"the Nmbrs login that gave consent cannot see {self._company_named(path)}; give it access "
                "(tags and filters of its template user in Nmbrs), or leave that company out of the sync"
            )
        if code == 40304:
            return "this Nmbrs environment is disabled (no valid subscription); renew it in Nmbrs"
        if code == 40306:
            return "the consent spans several debtors; list companies per debtor (/api/debtors)"
        if code == 42909:
            return (
                "the plan's call volume resets with the billing cycle; retrying now cannot help. Wait for the "
                "new cycle or raise the plan's volume at developer.nmbrs.com"
            )
        if status == 403:
            scope = _scope_for(path)
            wanted = f"the scope {scope}" if scope else "the scope this call needs"
            return f"allow {wanted} in your Nmbrs app, add it to NMBRS_SCOPES and run `payroll connect` again"
        if status == 404:
            return f"check {self._company_named(path)} and the run id; it may not exist or not be visible"
        if status == 400:
            return "a request parameter was refused; see the detail"
        if status == 429:
            return "Nmbrs is throttling; retried automatically after Retry-After"
        if status >= 500:
            return "Nmbrs had a server error; retried automatically"
        return "check the request parameters"

    def _company_named(self, path: str) -> str:
        match = _COMPANY_IN_PATH.match(path)
        if not match:
            return "the resource"
        company = self._companies.get(match.group(1))
        return (
            f"company {company.number} {company.name!r} ({company.company_id})"
            if company
            else (f"company {match.group(1)}")
        )

    def paginate(
        self, path: str, params: dict[str, Any] | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict]:
        """Every item of a paged list (`{data, pagination{totalPages, ...}}`), page by page."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size={page_size}: Nmbrs accepts 1 to {MAX_PAGE_SIZE} items per page")
        page = 1
        while True:
            if page > MAX_PAGES:
                raise RestError(
                    "GET",
                    path,
                    None,
                    f"the listing goes on past {MAX_PAGES:,} pages of {page_size}; refused, not retried",
                    "check that NMBRS_REST_URL points at Nmbrs; if it does, report the listing to Nmbrs support",
                    retryable=False,
                )
            body = self.get(path, {**(params or {}), "pageNumber": page, "pageSize": page_size})
            body = body if isinstance(body, dict) else {}
            items = [item for item in body.get("data") or [] if isinstance(item, dict)]
            yield from items
            meta = body.get("pagination") if isinstance(body.get("pagination"), dict) else {}
            total_pages = meta.get("totalPages")
            if total_pages is not None:
                if page >= int(total_pages):
                    return
            elif not meta.get("nextPage") or len(items) < page_size:
                return
            if not items:
                return
            page += 1

    # -- companies ---------------------------------------------------------------------------
    def companies(self) -> list[RestCompany]:
        """Every company the consent covers; per debtor when the consent spans several (40306)."""
        try:
            found = [records.company(item) for item in self.paginate("/api/companies")]
        except MultiDebtorConsent:
            found = [
                records.company(item)
                for debtor in self.debtors()
                for item in self.paginate(f"/api/debtors/{debtor.debtor_id}/companies")
            ]
        unique = unique_by_id(found, lambda c: c.company_id, "Nmbrs REST GET /api/companies", "company")
        self._companies.update({company.company_id: company for company in unique})
        return unique

    def period_type(self, company_id: str) -> str | None:
        """The company's period type (`/api/companies/{companyId}/period`), as SOAP spells it."""
        items = list(self.paginate(f"/api/companies/{company_id}/period"))
        return records.period_type(items[0]) if items else None

    def debtors(self) -> list[RestDebtor]:
        return [records.debtor(item) for item in self.paginate("/api/debtors")]

    # -- company resources -------------------------------------------------------------------
    def runs(self, company_id: str, year: int) -> list[RestRun]:
        path = f"/api/companies/{company_id}/runs"
        runs = (records.run(company_id, item) for item in self.paginate(path, {"year": year}))
        return unique_by_id(runs, lambda r: r.payroll_run_id, f"Nmbrs REST GET {path}", "run")

    def employees(self, company_id: str) -> list[RestEmployee]:
        path = f"/api/companies/{company_id}/employees"
        found = (records.employee(company_id, item) for item in self.paginate(path))
        return unique_by_id(found, lambda e: e.employee_id, f"Nmbrs REST GET {path}", "employee")

    def personal_info(self, company_id: str) -> dict[str, list[RestPersonalInfo]]:
        """Each employee's personal-info history (rest_records.current picks the current record)."""
        path = f"/api/companies/{company_id}/employees/personalinfo"
        histories: dict[str, list[RestPersonalInfo]] = {}
        for item in self.paginate(path):
            for record in records.personal_infos(company_id, item):
                histories.setdefault(record.employee_id, []).append(record)
        return histories

    def departments(self, company_id: str) -> list[RestAssignment]:
        path = f"/api/companies/{company_id}/employees/departments"
        return [a for item in self.paginate(path) for a in records.departments(company_id, item)]

    def cost_centers(self, company_id: str) -> list[RestAssignment]:
        path = f"/api/companies/{company_id}/employees/costcenters"
        return [a for item in self.paginate(path) for a in records.cost_centers(company_id, item)]

    def entered_wage_components(
        self, company_id: str, year: int, periods: Sequence[int]
    ) -> list[EnteredWageComponent]:
        """Fixed, then variable components entered on employees, for each period asked for (these are
        inputs; the computed result is the run output)."""
        paths = {
            "fixed": f"/api/companies/{company_id}/employees/fixedWageComponents",
            "variable": f"/api/companies/{company_id}/employees/variablewagecomponents",
        }
        return [
            component
            for kind, path in paths.items()
            for period in periods
            for item in self.paginate(path, {"year": year, "period": period})
            for component in records.entered_wage_components(company_id, kind, year, period, item)
        ]

    def run_employees(self, company_id: str, payroll_run_id: str) -> list[str]:
        path = f"/api/companies/{company_id}/runs/{payroll_run_id}/employees"
        return [str(item.get("employeeId")) for item in self.paginate(path)]

    # -- documents ---------------------------------------------------------------------------
    def start_document(self, path: str, params: dict[str, Any], what: str) -> DocumentTask:
        return DocumentTask(records.task_id(self.get(path, params), what), what)

    def wait_for_documents(self, tasks: Sequence[DocumentTask]) -> dict[str, bytes]:
        """The content of every task, polling the unfinished ones together: the first wait doubles
        up to the longest, and all must be ready within NMBRS_REPORT_DEADLINE_SECONDS."""
        first, longest = self.poll
        deadline = time.monotonic() + self.settings.report_deadline_seconds
        pending = {task.task_id: task for task in tasks}
        done: dict[str, bytes] = {}
        wait = first
        while True:
            for task_id in list(pending):
                response = self.send(f"/api/documents/{task_id}")
                if response.status_code == 200:
                    done[task_id] = response.content
                    del pending[task_id]
            if not pending:
                return done
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DocumentTimeout(
                    [task.what for task in pending.values()], self.settings.report_deadline_seconds
                )
            time.sleep(min(wait, remaining))
            wait = min(wait * 2, longest)

    def _documents(
        self, requested: Sequence[tuple[object, str, dict[str, Any], str]], parse: Callable
    ) -> dict:
        """Start every requested document, wait for all of them, then parse each (by its key)."""
        tasks = {key: self.start_document(path, params, what) for key, path, params, what in requested}
        contents = self.wait_for_documents(list(tasks.values()))
        return {key: parse(key, contents[task.task_id]) for key, task in tasks.items()}

    def run_outputs(
        self, company_id: str, runs: Sequence[RestRun], drift: DriftRecorder | None = None
    ) -> dict[str, list[RunOutputLine]]:
        """The run output (calculated wage components per employee per period) of every run, by
        payroll run id. A run with employees whose output holds no line raises ReportContentError."""
        requested = [
            (
                run.payroll_run_id,
                f"/api/companies/{company_id}/runs/{run.payroll_run_id}/wagecodes/xml",
                {"year": run.year},
                f"run output of run {run.number} ({run.year})",
            )
            for run in runs
        ]

        def parse(run_id: str, content: bytes) -> list[RunOutputLine]:
            lines = parse_run_output(content, company_id, run_id, drift)
            if not lines and self.run_employees(company_id, run_id):
                raise ReportContentError(
                    f"the run output of payroll run {run_id} (company {company_id}) holds no line although the "
                    "run has employees. Fix: run the sync again later; if it stays empty, check the run in Nmbrs"
                )
            return lines

        return self._documents(requested, parse)

    def run_output(
        self, company_id: str, run: RestRun, drift: DriftRecorder | None = None
    ) -> list[RunOutputLine]:
        return self.run_outputs(company_id, [run], drift)[run.payroll_run_id]

    def journals(
        self,
        company_id: str,
        runs: Sequence[RestRun],
        variants: Sequence[str] = ("journals",),
        drift: DriftRecorder | None = None,
    ) -> dict[tuple[str, str], list[JournalLine]]:
        """The journal of every run in each variant, by (payroll run id, variant)."""
        unknown = sorted(set(variants) - set(JOURNAL_VARIANTS))
        if unknown:
            raise ValueError(
                f"unknown journal variant(s) {unknown}; choose from {', '.join(JOURNAL_VARIANTS)}"
            )
        requested = [
            (
                (run.payroll_run_id, variant),
                f"/api/companies/{company_id}/runs/{run.payroll_run_id}/{variant}",
                {"year": run.year},
                f"{variant} of run {run.number} ({run.year})",
            )
            for run in runs
            for variant in variants
        ]
        return self._documents(
            requested, lambda key, content: parse_journal(content, company_id, key[0], key[1], drift)
        )
