"""The REST API (`/api/...`) as the vendor's OpenAPI document describes it (docs/nmbrs-api.md).

- Subscription key (`X-Subscription-Key`) and Bearer token on every call; each route needs one of
  its scopes (contract.ROUTE_SCOPES).
- Ids are UUID strings (rest_ids.py); a company's `number` is a string, an employee's an integer.
- Lists: `{data, pagination{pageNumber, pageSize, totalPages, totalRecords, firstPage, lastPage,
  nextPage, previousPage}}`; pageSize 1..100 (default 20), above that a 400 validation error.
- Errors: `{type, httpStatus, code, title, detail[, invalid-params]}` with integer codes.
- `/api/companies` answers 403 code 40306 when the consent spans several debtors (`debtors` knob);
  then `/api/debtors` and `/api/debtors/{debtorId}/companies` list them.
- Run output and journals start a document task (`{taskId}`); `/api/documents/{taskId}` answers
  202 until the task is done, then 200 with the XML file (documents.py).
Amounts are JSON numbers with two decimals (parse them with `json.loads(..., parse_float=Decimal)`).
Modeled details (no public source): the gateway's answer to a bad subscription key, the code of a
missing scope, the current period when `period` is left out, and the run type of a correction.
"""

from __future__ import annotations

import datetime as dt
import hmac
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from pipelines.lib.nmbrs.documents import JOURNAL_VARIANTS
from pipelines.sandbox import contract, orgstructure
from pipelines.sandbox.documents import journal_xml, run_output_xml
from pipelines.sandbox.faults import FaultRule
from pipelines.sandbox.identity import Grant
from pipelines.sandbox.model import Company, Employee, RunInfo
from pipelines.sandbox.rest_ids import RestIds, rest_id
from pipelines.sandbox.state import SandboxState
from pipelines.sandbox.wages import FIXED_CODES, VARIABLE_CODES
from pipelines.sandbox.web import Request, Response, error_response, json_response, to_json
from pipelines.sandbox.world import SandboxError

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
SCOPE_REFUSAL_CODE = 40301  # modeled: the vendor lists no code for a token without the route's scope
RUN_TYPES = {"regular": "normal", "correction": "twk"}
PERIOD_TYPES = {
    "Month": "month",
    "Week4": "4-weeks",
}  # the vendor's CompanyPeriodType  # modeled: a correction is retroactive (twk)
DOCUMENT_PENDING = "Document is being processed"
_ID = r"(?P<{}>[^/]+)"
_COMPANY = rf"^/api/companies/{_ID.format('company_id')}"
_RUN = rf"{_COMPANY}/runs/{_ID.format('run_id')}"
ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern + "/?$", re.IGNORECASE))
    for name, pattern in (
        ("companies", r"^/api/companies"),
        ("company_period", rf"{_COMPANY}/period"),
        ("debtors", r"^/api/debtors"),
        ("debtor_companies", rf"^/api/debtors/{_ID.format('debtor_id')}/companies"),
        ("employees", rf"{_COMPANY}/employees"),
        ("personalinfo", rf"{_COMPANY}/employees/personalinfo"),
        ("departments", rf"{_COMPANY}/employees/departments"),
        ("costcenters", rf"{_COMPANY}/employees/costcenters"),
        ("fixedwagecomponents", rf"{_COMPANY}/employees/fixedwagecomponents"),
        ("variablewagecomponents", rf"{_COMPANY}/employees/variablewagecomponents"),
        ("runs", rf"{_COMPANY}/runs"),
        ("run_employees", rf"{_RUN}/employees"),
        ("run_output", rf"{_RUN}/wagecodes/xml"),
        ("journals", rf"{_RUN}/(?P<variant>{'|'.join(JOURNAL_VARIANTS)})"),
        ("documents", rf"^/api/documents/{_ID.format('task_id')}"),
    )
)


class RestError(Exception):
    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


def _fail(
    status: int, code: int, title: str, detail: str, headers: dict[str, str] | None = None, **kwargs
) -> RestError:
    return RestError(error_response(status, code, title, detail, headers, **kwargs))


def _invalid(name: str, reason: str) -> RestError:
    return _fail(
        400,
        40033,
        "Parameter_Invalid",
        "Invalid parameter.",
        invalid_params=[{"name": name, "reason": reason}],
    )


@dataclass(frozen=True)
class Call:
    """One authorized REST call: the state, its path parameters, the request, the token's grant and
    the fault injected into it (if any)."""

    state: SandboxState
    params: dict[str, str]
    request: Request
    grant: Grant
    fault: FaultRule | None = None

    @property
    def ids(self) -> RestIds:
        return self.state.rest_ids


def route(path: str) -> tuple[str, dict[str, str]] | None:
    for name, pattern in ROUTES:
        match = pattern.match(path)
        if match:
            return name, match.groupdict()
    return None


def handle(
    state: SandboxState, name: str, params: dict[str, str], request: Request, fault: FaultRule | None = None
) -> Response:
    try:
        if request.method != "GET":
            raise _fail(405, 40501, "Method_Not_Allowed", f"{request.method} is not supported here; use GET")
        grant = authorize(state, name, request)
        result = HANDLERS[name](Call(state, params, request, grant, fault))
        if fault is not None and fault.kind == "repeat" and isinstance(result, list) and result:
            result = [result[0]] * int(fault.params.get("count", 1000)) + result[1:]
        return result if isinstance(result, Response) else paginate(result, request)
    except RestError as exc:
        return exc.response
    except SandboxError as exc:
        return error_response(404, 40401, "Not_Found", str(exc))


def _gateway_refusal(message: str) -> RestError:
    """The API gateway's own answer to a missing or wrong subscription key (modeled: Azure APIM's)."""
    return RestError(json_response(401, {"statusCode": 401, "message": message}))


def authorize(state: SandboxState, name: str, request: Request) -> Grant:
    key = request.header("x-subscription-key")
    if not key:
        raise _gateway_refusal(
            "Access denied due to missing subscription key. Make sure to include subscription key when "
            "making requests to an API."
        )
    if not hmac.compare_digest(key, contract.SUBSCRIPTION_KEY):
        raise _gateway_refusal(
            "Access denied due to invalid subscription key. Make sure to provide a valid key for an active "
            "subscription."
        )
    auth = request.header("authorization")
    bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if not bearer:
        raise _fail(
            401,
            40101,
            "Missing_Token",
            "Token is missing on the authentication",
            {"WWW-Authenticate": "Bearer"},
        )
    grant = state.identity.access(bearer)
    if grant is None:
        raise _fail(
            401,
            40102,
            "Invalid_Token",
            "Token is invalid.",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    needed = contract.ROUTE_SCOPES[name]
    if not needed & grant.scopes:
        raise _fail(
            403,
            SCOPE_REFUSAL_CODE,
            "Insufficient_Scope",
            f"The access token has none of the scopes this operation needs: {', '.join(sorted(needed))}.",
        )
    return grant


# -- parameters ---------------------------------------------------------------------------
def _int(request: Request, name: str, default: int | None = None, low: int = 1, high: int | None = None):
    raw = request.query.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(name, f"The parameter is invalid. {raw!r} is not a whole number.") from None
    if value < low or (high is not None and value > high):
        limit = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _invalid(name, f"The parameter is invalid. It must be {limit}.")
    return value


def _uuid(raw: str, name: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise _invalid(name, f"The parameter is invalid. {raw!r} is not a UUID.") from None


def _created_from(request: Request) -> dt.datetime | None:
    raw = request.query.get("createdFrom", "")
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(
            "createdFrom", "The parameter is invalid. Use a date-time, e.g. 2021-12-01T00:00:00Z."
        ) from None
    return value.replace(tzinfo=None)


def _year(call: Call, required: bool = False) -> int:
    year = _int(call.request, "year", None, low=1900, high=2200)
    if year is None and required:
        raise _invalid("year", "The parameter is invalid. It needs to be a valid year.")
    return call.state.config.as_of.year if year is None else year


def _stamp(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def paginate(items: list[dict], request: Request) -> Response:
    page = _int(request, "pageNumber", 1)
    size = _int(request, "pageSize", DEFAULT_PAGE_SIZE, high=MAX_PAGE_SIZE)
    total = len(items)
    pages = math.ceil(total / size)
    base = f"http://{request.header('host', '127.0.0.1')}{request.path}"

    def link(number: int) -> str:
        return f"{base}?{urlencode({**request.query, 'pageNumber': number, 'pageSize': size})}"

    meta = {
        "pageNumber": page,
        "pageSize": size,
        "firstPage": link(1),
        "lastPage": link(max(1, pages)),
        "totalPages": pages,
        "totalRecords": total,
        "nextPage": link(page + 1) if page < pages else None,
        "previousPage": link(page - 1) if 1 < page <= pages + 1 else None,
    }
    return json_response(200, {"pagination": meta, "data": items[(page - 1) * size : page * size]})


# -- companies and debtors -----------------------------------------------------------------
def _company_record(ids: RestIds, company: Company) -> dict:
    return {
        "companyId": ids.company(company),
        "number": str(company.number),
        "name": company.name,
        "debtorId": ids.debtor_of(company).debtor_id,
    }


def companies(call: Call) -> list[dict]:
    if call.state.config.debtors > 1:
        raise _fail(403, 40306, "ForbiddenMultiDebtor", "ForbiddenMultiDebtor.")
    return [_company_record(call.ids, c) for c in call.state.world.companies()]


def company_period(call: Call) -> list[dict]:
    """The company's current period and its period type (`CompanyPeriod`): the period of the latest
    run, or period 1 of the current year before any run (modeled)."""
    company = _company(call)
    world = call.state.world
    latest = max(
        ((r.year, r.period_end) for y in world.years(company.id) for r in world.runs(company.id, y)),
        default=(call.state.config.as_of.year, 1),
    )
    kind = PERIOD_TYPES[company.period_type]
    letter = {"month": "M", "4-weeks": "4W"}[kind]
    return [
        {
            "period": {"year": latest[0], "period": latest[1]},
            "periodType": kind,
            "displayPeriod": f"{latest[0]}-{latest[1]}-{letter}",
        }
    ]


def debtors(call: Call) -> list[dict]:
    return [{"debtorId": d.debtor_id, "number": d.number, "name": d.name} for d in call.ids.debtors]


def debtor_companies(call: Call) -> list[dict]:
    debtor_id = _uuid(call.params["debtor_id"], "debtorId")
    if debtor_id not in {d.debtor_id for d in call.ids.debtors}:
        raise _fail(404, 40401, "Not_Found", f"Debtor {debtor_id} does not exist or is not accessible.")
    return [
        _company_record(call.ids, c)
        for c in call.state.world.companies()
        if call.ids.debtor_of(c).debtor_id == debtor_id
    ]


def _company(call: Call) -> Company:
    company_id = _uuid(call.params["company_id"], "companyId")
    company = call.ids.company_by_id(company_id)
    if company is None:
        raise _fail(404, 40404, "Invalid_Company", "Company not found. Check if the company Id is correct.")
    return company


# -- employees -----------------------------------------------------------------------------
def _employees(call: Call, company: Company, created: bool = True) -> list[Employee]:
    """The company's employees, filtered by the `employeeId` query parameter and (with `created`) by
    `createdFrom` on the employee's own createdAt."""
    wanted = call.request.query.get("employeeId")
    wanted = _uuid(wanted, "employeeId") if wanted else None
    created_from = _created_from(call.request) if created else None
    return [
        e
        for e in call.state.world.employees(company.id)
        if (wanted is None or call.ids.employee(e) == wanted)
        and (created_from is None or e.created_at >= created_from)
    ]


def _employee_type(call: Call, company: Company, employee: Employee) -> str:
    """`formerPayroll` once the employee's last period lies before the company's latest run."""
    world = call.state.world
    last = max(
        ((r.year, r.period_end) for y in world.years(company.id) for r in world.runs(company.id, y)),
        default=None,
    )
    if employee.end_year is not None and last is not None and (employee.end_year, employee.end_period) < last:
        return "formerPayroll"
    return "payroll"


def _basic_info(call: Call, company: Company, employee: Employee, last_name: str | None = None) -> dict:
    return {
        "employeeNumber": employee.number,
        "firstName": employee.first_name,
        "firstNameInFull": employee.first_name,
        "prefix": employee.prefix or None,
        "initials": employee.initials,
        "lastName": last_name or employee.last_name,
        "employeeType": _employee_type(call, company, employee),
    }


def employees(call: Call) -> list[dict]:
    company = _company(call)
    types = {t.strip() for t in call.request.query.get("employeeType", "").split(",") if t.strip()}
    items = [
        {"employeeId": call.ids.employee(e), "employeeBasicInfo": _basic_info(call, company, e)}
        for e in _employees(call, company)
    ]
    return [item for item in items if not types or item["employeeBasicInfo"]["employeeType"] in types]


def _personal_info(call: Call, company: Company, employee: Employee, version: int) -> dict:
    """Version 1 is the current record; version 2 an older one with the name as first entered."""
    created = employee.created_at if version == 1 else employee.created_at - dt.timedelta(days=400)
    previous_name = "Bakker" if employee.last_name != "Bakker" else "Visser"
    return {
        "personalInfoId": rest_id(call.ids.seed, "personalinfo", employee.id, version),
        "basicInfo": _basic_info(call, company, employee, None if version == 1 else previous_name),
        "birthInfo": {
            "birthDate": f"{employee.birth_date.isoformat()}T00:00:00Z",
            "birthCountry": {"codeISO": "NL", "description": "Nederland"},
            "nationality": {"codeISO": "NL", "description": "Nederlandse"},
            "deceasedOn": None,
            "gender": employee.gender,
        },
        "contactInfo": {"businessEmail": employee.email_work, "privateEmail": None},
        "period": {"year": employee.start_year, "period": employee.start_period},
        "createdAt": _stamp(created),
    }


def personalinfo(call: Call) -> list[dict]:
    """A history per employee; the first employee's list also holds an older record, listed last."""
    company = _company(call)
    return [
        {
            "employeeId": call.ids.employee(e),
            "info": [
                _personal_info(call, company, e, version) for version in ((1, 2) if e.number == 1 else (1,))
            ],
        }
        for e in _employees(call, company)
    ]


def departments(call: Call) -> list[dict]:
    company = _company(call)
    first_year = call.state.config.first_year
    return [
        {
            "employeeId": call.ids.employee(e),
            "departments": [
                {
                    "departmentId": rest_id(call.ids.seed, "department", company.id, a.code),
                    "code": int(a.code),
                    "description": a.description,
                    "createdAt": _stamp(a.created_at),
                    "period": {"year": a.year, "period": a.period},
                }
                for a in orgstructure.departments(company, e, first_year)
            ],
        }
        for e in _employees(call, company)
    ]


def costcenters(call: Call) -> list[dict]:
    company = _company(call)
    seed = call.ids.seed
    return [
        {
            "employeeId": call.ids.employee(e),
            "employeeCostCenters": [
                {
                    "employeeCostCenterId": rest_id(seed, "employeecostcenter", e.id, a.year, a.period),
                    "costCenters": {
                        "costCenterId": rest_id(seed, "costcenter", company.id, a.code),
                        "code": a.code,
                        "description": a.description,
                    },
                    "percentage": 100,
                    "default": True,
                    "period": {"year": a.year, "period": a.period},
                    "createdAt": _stamp(a.created_at),
                }
                for a in orgstructure.cost_centres(company, e)
            ],
        }
        for e in _employees(call, company)
    ]


def _wage_components(codes: tuple[str, ...], kind: str) -> Callable[[Call], list[dict]]:
    """Fixed or variable components entered on employees for one period (query `year` + `period`).

    Without `period` the latest period of that year that has been run is used (modeled: the vendor
    answers with the company's current period)."""
    list_key, id_key = {
        "fixed": ("fixedWageComponents", "fixedWageComponentId"),
        "variable": ("variablewagecomponents", "variableWageComponentId"),
    }[kind]

    def handler(call: Call) -> list[dict]:
        company = _company(call)
        world = call.state.world
        year = _year(call)
        rows = world.period_report(company.id, year) if year in world.years(company.id) else []
        period = _int(call.request, "period", max((r.period for r in rows), default=None), high=13)
        staff = {call.ids.employee(e): e for e in _employees(call, company, created=False)}
        by_id = {e.id: rest_key for rest_key, e in staff.items()}
        created_from = _created_from(call.request)
        items = []
        for row in rows:
            if row.period != period or row.employee_id not in by_id:
                continue
            created = world.changed_at(company.id, year, row.period, row.employee_id)
            if created_from is not None and (created is None or created < created_from):
                continue
            entered = [
                {
                    id_key: rest_id(call.ids.seed, kind, row.employee_id, year, row.period, line.code),
                    "code": int(line.code),
                    "value": line.value,
                    **({"endYear": None, "endPeriod": None} if kind == "fixed" else {}),
                    "comment": None,
                    "costCenterId": None,
                    "costUnitId": None,
                    "createdAt": _stamp(created) if created else None,
                }
                for line in row.lines
                if line.code in codes
            ]
            if entered:
                items.append({"employeeId": by_id[row.employee_id], list_key: entered})
        return items

    return handler


# -- runs and their documents ---------------------------------------------------------------
def runs(call: Call) -> list[dict]:
    company = _company(call)
    year = _year(call)
    world = call.state.world
    return [
        {
            "payrollRunId": r.payroll_run_id,
            "number": r.number,
            "description": r.description,
            "year": r.year,
            "periodStart": r.period_start,
            "periodEnd": r.period_end,
            "createdAt": _stamp(r.run_at),
            "type": RUN_TYPES[r.type],
            "locked": r.locked,
        }
        for r in (world.runs(company.id, year) if year in world.years(company.id) else [])
    ]


def _run(call: Call, company: Company, year: int | None = None) -> RunInfo:
    run_id = _uuid(call.params["run_id"], "payrollRunId")
    try:
        run = call.state.world.run_by_guid(company.id, run_id)
    except SandboxError:
        run = None
    if run is None or (year is not None and run.year != year):
        raise _fail(404, 40401, "Not_Found", f"Payroll run {run_id} does not exist in this company and year.")
    return run


def run_employees(call: Call) -> list[dict]:
    company = _company(call)
    run = _run(call, company)
    staff = {e.id: e for e in call.state.world.employees(company.id)}
    return [
        {
            "employeeId": call.ids.employee(staff[row.employee_id]),
            "employeeNumber": staff[row.employee_id].number,
        }
        for row in call.state.world.payslips(run)
    ]


def _task(call: Call, content: str) -> Response:
    """Start a document task with this content; injected task faults shape its outcome."""
    fault = call.fault
    outcome, seconds = "Success", None
    if fault is not None and fault.kind in ("task_error", "task_unknown"):
        outcome = "Error"
    elif fault is not None and fault.kind == "task_slow":
        seconds = float(fault.params.get("seconds", 5.0))
    task = call.state.tasks.create(f"rest:{call.grant.client_id}", content, outcome, seconds)
    return json_response(200, {"taskId": task.id})


def run_output(call: Call) -> Response:
    company = _company(call)
    run = _run(call, company, _int(call.request, "year", None, low=1900, high=2200))
    raw = call.request.query.get("wageCodes", "")
    codes = frozenset(c.strip() for c in raw.split(",") if c.strip()) or None
    content = run_output_xml(call.ids, company, run, call.state.world.payslips(run), codes)
    return _task(call, content)


def journals(call: Call) -> Response:
    company = _company(call)
    run = _run(call, company, _year(call, required=True))
    content = journal_xml(
        call.ids,
        company,
        call.state.world.payslips(run),
        call.params["variant"].lower(),
        unbalanced_by=Decimal(str(call.fault.params.get("delta", "0.01")))
        if call.fault is not None and call.fault.kind == "journal_unbalanced"
        else None,
    )
    return _task(call, content)


def documents(call: Call) -> Response:
    task = call.state.tasks.get(call.params["task_id"])
    if task is None or task.token != f"rest:{call.grant.client_id}":
        raise _fail(404, 40401, "Not_Found", "The requested resource could not be found.")
    status = task.status(call.state.clock())
    if status in ("Enqueued", "Executing"):
        return Response(202, to_json(DOCUMENT_PENDING), "application/json; charset=utf-8")
    if status != "Success":
        raise _fail(500, 50001, "Unkown", "An unexpected error has occurred.")
    return Response(200, task.content.encode("utf-8"), "application/octet-stream")


HANDLERS: dict[str, Callable[[Call], list[dict] | Response]] = {
    "companies": companies,
    "company_period": company_period,
    "debtors": debtors,
    "debtor_companies": debtor_companies,
    "employees": employees,
    "personalinfo": personalinfo,
    "departments": departments,
    "costcenters": costcenters,
    "fixedwagecomponents": _wage_components(FIXED_CODES, "fixed"),
    "variablewagecomponents": _wage_components(VARIABLE_CODES, "variable"),
    "runs": runs,
    "run_employees": run_employees,
    "run_output": run_output,
    "journals": journals,
    "documents": documents,
}
