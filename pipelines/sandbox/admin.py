"""Admin endpoints (`/_admin/...`) so that subprocesses and the CLI can change and inspect the sandbox.

They change data only when asked: add a run, correct a period, add a token, inject faults.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal, InvalidOperation

from pipelines.sandbox.model import RunInfo
from pipelines.sandbox.state import SandboxState
from pipelines.sandbox.web import Request, Response, error_response, json_response
from pipelines.sandbox.world import SandboxError


def run_record(run: RunInfo) -> dict[str, object]:
    record = dataclasses.asdict(run)
    record["run_at"] = run.run_at.isoformat()
    return record


def _int(body: dict, name: str, required: bool = True) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ValueError(f"{name} is required")
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a whole number") from None


def add_run(state: SandboxState, request: Request) -> Response:
    body = request.json()
    return json_response(201, run_record(state.add_run(_int(body, "company_id"), _int(body, "year", False))))


def correct(state: SandboxState, request: Request) -> Response:
    body = request.json()
    try:
        delta = Decimal(str(body.get("delta", "150.00")))
    except InvalidOperation:
        raise ValueError(f"delta={body.get('delta')!r} must be a decimal amount such as 150.00") from None
    run = state.correct_period(
        _int(body, "company_id"),
        _int(body, "year"),
        _int(body, "period"),
        _int(body, "employee_id", False),
        delta,
    )
    return json_response(201, run_record(run))


def add_token(state: SandboxState, request: Request) -> Response:
    body = request.json()
    permissions = body.get("permissions")
    if not isinstance(permissions, list):
        raise ValueError('permissions must be a list of operations, e.g. ["CompanyService.List_GetAll"]')
    return json_response(201, {"token": state.add_token(permissions, body.get("companies"))})


def counters(state: SandboxState, request: Request) -> Response:
    return json_response(200, state.counters.snapshot())


def reset_counters(state: SandboxState, request: Request) -> Response:
    state.counters.reset()
    return json_response(200, state.counters.snapshot())


def truth(state: SandboxState, request: Request) -> Response:
    company_id = int(request.query["company_id"]) if request.query.get("company_id") else None
    year = int(request.query["year"]) if request.query.get("year") else None
    return json_response(200, state.truth.to_dict(company_id, year))


def faults(state: SandboxState, request: Request) -> Response:
    if request.method == "DELETE":
        state.faults.clear()
        return json_response(200, {"faults": []})
    if request.method == "POST":
        body = dict(request.json())
        target, kind = body.pop("target", None), body.pop("kind", None)
        if not target or not kind:
            raise ValueError('target and kind are required, e.g. {"target": "soap:*", "kind": "500"}')
        state.faults.inject(str(target), str(kind), body.pop("times", 1), int(body.pop("after", 0)), **body)
    return json_response(
        200, {"faults": [{k: v for k, v in dataclasses.asdict(r).items()} for r in state.faults.rules()]}
    )


def oauth_grant(state: SandboxState, request: Request) -> Response:
    scopes = request.json().get("scopes")
    return json_response(201, state.identity.grant_offline_access(frozenset(scopes) if scopes else None))


def expire_access_tokens(state: SandboxState, request: Request) -> Response:
    state.identity.expire_access_tokens()
    return json_response(200, {"expired": True})


def settings(state: SandboxState, request: Request) -> Response:
    body = request.json()
    if "throttle" in body:
        value = float(body["throttle"])
        if not 0 <= value <= 1:
            raise ValueError("throttle must be a fraction between 0 and 1")
        state.throttle = value
    if "task_seconds" in body:
        state.tasks.seconds = float(body["task_seconds"])
    return json_response(
        200,
        {
            "throttle": state.throttle,
            "task_seconds": state.tasks.seconds,
        },
    )


ROUTES = {
    ("POST", "/_admin/runs"): add_run,
    ("POST", "/_admin/corrections"): correct,
    ("POST", "/_admin/tokens"): add_token,
    ("GET", "/_admin/counters"): counters,
    ("POST", "/_admin/reset-counters"): reset_counters,
    ("GET", "/_admin/truth"): truth,
    ("GET", "/_admin/faults"): faults,
    ("POST", "/_admin/faults"): faults,
    ("DELETE", "/_admin/faults"): faults,
    ("POST", "/_admin/oauth-grants"): oauth_grant,
    ("POST", "/_admin/expire-access-tokens"): expire_access_tokens,
    ("POST", "/_admin/settings"): settings,
}


def handle(state: SandboxState, request: Request) -> Response:
    handler = ROUTES.get((request.method, request.path.rstrip("/")))
    if handler is None:
        known = ", ".join(f"{m} {p}" for m, p in ROUTES)
        return error_response(404, 40401, "Not_Found", f"unknown admin endpoint; known: {known}")
    try:
        return handler(state, request)
    except SandboxError as exc:
        return error_response(409, 40901, "Conflict", str(exc))
    except ValueError as exc:
        return error_response(400, 40033, "Parameter_Invalid", str(exc))
