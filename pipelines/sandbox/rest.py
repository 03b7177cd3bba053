"""The REST API (`/api/...`): subscription key + Bearer token, scopes, pagination, the contract's paths.

Response bodies beyond the fields the contract names are modeled. Amounts are JSON numbers with
two decimals (parse them with `json.loads(..., parse_float=Decimal)`).
"""

from __future__ import annotations

import datetime as dt
import hmac
import math
import re
from collections.abc import Callable

from pipelines.sandbox import contract
from pipelines.sandbox.state import SandboxState
from pipelines.sandbox.wages import FIXED_CODES, VARIABLE_CODES
from pipelines.sandbox.web import Request, Response, error_response, json_response
from pipelines.sandbox.world import SandboxError

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("companies", re.compile(r"^/api/companies/?$")),
    ("debtor_companies", re.compile(r"^/api/debtors/(?P<debtor_id>[^/]+)/companies/?$")),
    (
        "fixedwagecomponents",
        re.compile(r"^/api/companies/(?P<company_id>[^/]+)/employees/fixedwagecomponents/?$"),
    ),
    (
        "variablewagecomponents",
        re.compile(r"^/api/companies/(?P<company_id>[^/]+)/employees/variablewagecomponents/?$"),
    ),
    ("employees", re.compile(r"^/api/companies/(?P<company_id>[^/]+)/employees/?$")),
    (
        "run_employees",
        re.compile(r"^/api/companies/(?P<company_id>[^/]+)/runs/(?P<run_id>[^/]+)/employees/?$"),
    ),
    ("runs", re.compile(r"^/api/companies/(?P<company_id>[^/]+)/runs/?$")),
)


class RestError(Exception):
    def __init__(
        self, status: int, title: str, detail: str, code: str, headers: dict[str, str] | None = None
    ):
        super().__init__(detail)
        self.response = error_response(status, title, detail, code, headers)


def route(path: str) -> tuple[str, dict[str, str]] | None:
    for name, pattern in ROUTES:
        match = pattern.match(path)
        if match:
            return name, match.groupdict()
    return None


def handle(state: SandboxState, name: str, params: dict[str, str], request: Request) -> Response:
    try:
        if request.method != "GET":
            raise RestError(
                405,
                "Method Not Allowed",
                f"{request.method} is not supported here; use GET",
                "method_not_allowed",
            )
        authorize(state, name, request)
        items = HANDLERS[name](state, params, request)
        return paginate(state, items, request)
    except RestError as exc:
        return exc.response
    except SandboxError as exc:
        return error_response(404, "Not Found", str(exc), "not_found")


def authorize(state: SandboxState, name: str, request: Request) -> None:
    key = request.header("x-subscription-key")
    if not key:
        raise RestError(
            401,
            "Unauthorized",
            "Access denied due to missing subscription key. Send the "
            "X-Subscription-Key header with your API subscription key.",
            "missing_subscription_key",
        )
    if not hmac.compare_digest(key, contract.SUBSCRIPTION_KEY):
        raise RestError(
            401,
            "Unauthorized",
            "Access denied due to an invalid subscription key. Use the key of an active subscription.",
            "invalid_subscription_key",
        )
    auth = request.header("authorization")
    bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    if not bearer:
        raise RestError(
            401,
            "Unauthorized",
            "A Bearer access token is required in the Authorization header.",
            "missing_token",
            {"WWW-Authenticate": "Bearer"},
        )
    grant = state.identity.access(bearer)
    if grant is None:
        raise RestError(
            401,
            "Unauthorized",
            "The access token is invalid or expired; refresh it.",
            "invalid_token",
            challenge,
        )
    needed = contract.ROUTE_SCOPES[name]
    if needed not in grant.scopes:
        raise RestError(403, "Forbidden", f"The access token lacks the scope {needed}.", "insufficient_scope")


def _int_param(
    request: Request, name: str, default: int | None = None, low: int = 1, high: int | None = None
) -> int | None:
    raw = request.query.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        limit = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise RestError(
            400, "Bad Request", f"{name}={raw!r} must be a whole number {limit}", "invalid_parameter"
        )
    return value


def paginate(state: SandboxState, items: list[dict], request: Request) -> Response:
    page = _int_param(request, "pageNumber", 1)
    size = _int_param(request, "pageSize", DEFAULT_PAGE_SIZE, high=MAX_PAGE_SIZE)
    total = len(items)
    meta = {
        "pageNumber": page,
        "pageSize": size,
        "totalPages": math.ceil(total / size) if total else 0,
        "totalRecords": total,
    }
    data = items[(page - 1) * size : page * size]
    body = (
        {"data": data, "pagination": meta} if state.pagination_style == "nested" else {"data": data, **meta}
    )
    return json_response(200, body)


def _company(state: SandboxState, params: dict[str, str]) -> int:
    try:
        company_id = int(params["company_id"])
        state.world.company(company_id)
    except (ValueError, SandboxError):
        raise RestError(
            404,
            "Not Found",
            f"Company {params['company_id']} does not exist or is not accessible.",
            "company_not_found",
        ) from None
    return company_id


def _company_record(c) -> dict:
    return {
        "companyId": c.id,
        "number": c.number,
        "name": c.name,
        "periodType": c.period_type,
        "kvkNumber": c.kvk_number,
        "phoneNumber": c.phone_number,
        "email": c.email,
        "website": c.website,
        "debtorId": contract.DEBTOR_ID,
    }


def companies(state, params, request):
    return [_company_record(c) for c in state.world.companies()]


def debtor_companies(state, params, request):
    if params["debtor_id"] != str(contract.DEBTOR_ID):
        raise RestError(
            404,
            "Not Found",
            f"Debtor {params['debtor_id']} does not exist or is not accessible.",
            "debtor_not_found",
        )
    return companies(state, params, request)


def employees(state, params, request):
    company_id = _company(state, params)
    return [
        {
            "employeeId": e.id,
            "employeeNumber": e.number,
            "companyId": company_id,
            "personalInfo": {
                "firstName": e.first_name,
                "initials": e.initials,
                "prefix": e.prefix,
                "lastName": e.last_name,
                "displayName": e.display_name,
                "gender": e.gender,
                "bsn": e.bsn,
                "birthDate": e.birth_date.isoformat(),
                "emailWork": e.email_work,
            },
            "employment": {
                "startYear": e.start_year,
                "startPeriod": e.start_period,
                "endYear": e.end_year,
                "endPeriod": e.end_period,
            },
            "createdAt": e.created_at.isoformat(),
        }
        for e in state.world.employees(company_id)
    ]


def _years(state, company_id: int, request: Request) -> list[int]:
    year = _int_param(request, "year", None, low=1900, high=2200)
    years = state.world.years(company_id)
    return [year] if year is not None and year in years else [] if year is not None else years


def runs(state, params, request):
    company_id = _company(state, params)
    return [
        {
            "payrollRunId": r.payroll_run_id,
            "number": r.number,
            "year": r.year,
            "type": r.type,
            "locked": r.locked,
            "createdAt": r.run_at.isoformat(),
            "periodStart": r.period_start,
            "periodEnd": r.period_end,
            "description": r.description,
            "runAt": r.run_at.isoformat(),
        }
        for year in _years(state, company_id, request)
        for r in state.world.runs(company_id, year)
    ]


def run_employees(state, params, request):
    company_id = _company(state, params)
    try:
        run = state.world.run_by_guid(company_id, params["run_id"])
    except SandboxError:
        raise RestError(
            404,
            "Not Found",
            f"Payroll run {params['run_id']} does not exist in company {company_id}.",
            "run_not_found",
        ) from None
    numbers = {e.id: e.number for e in state.world.employees(company_id)}
    return [
        {"employeeId": row.employee_id, "employeeNumber": numbers[row.employee_id]}
        for row in state.world.payslips(run)
    ]


def _wage_components(codes: tuple[str, ...]) -> Callable:
    def handler(state, params, request):
        company_id = _company(state, params)
        period = _int_param(request, "period", None, high=13)
        employee_id = _int_param(request, "employeeId", None)
        created_from = _datetime_param(request, "createdFrom")
        items = []
        for year in _years(state, company_id, request):
            for row in state.world.period_report(company_id, year):
                if (period is not None and row.period != period) or (
                    employee_id is not None and row.employee_id != employee_id
                ):
                    continue
                created = state.world.changed_at(company_id, year, row.period, row.employee_id)
                if created_from is not None and (created is None or created < created_from):
                    continue
                items.extend(
                    {
                        "employeeId": row.employee_id,
                        "year": year,
                        "period": row.period,
                        "code": line.code,
                        "description": line.description,
                        "value": line.value,
                        "createdAt": created.isoformat() if created else None,
                    }
                    for line in row.lines
                    if line.code in codes
                )
        return items

    return handler


def _datetime_param(request: Request, name: str) -> dt.datetime | None:
    raw = request.query.get(name, "")
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise RestError(
            400,
            "Bad Request",
            f"{name}={raw!r} must be an ISO date or date-time, e.g. 2025-03-01",
            "invalid_parameter",
        ) from None
    return value.replace(tzinfo=None)


HANDLERS: dict[str, Callable] = {
    "companies": companies,
    "debtor_companies": debtor_companies,
    "employees": employees,
    "runs": runs,
    "run_employees": run_employees,
    "fixedwagecomponents": _wage_components(FIXED_CODES),
    "variablewagecomponents": _wage_components(VARIABLE_CODES),
}
