"""OAuth (PKCE, consent, rotating refresh tokens) and the REST API (keys, scopes, pagination, wage components)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from pipelines.sandbox import contract

REDIRECT = "http://127.0.0.1:53682/callback"
SCOPES = (
    "company.info.read company.payrollsettings.read employee.info.read employee.payment.read offline_access"
)


def authorize(base: str, scope: str = SCOPES, decision: str = "allow", state: str = "st-1"):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "client_id": contract.CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": scope,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = requests.get(f"{base}/connect/authorize", params=params, timeout=10)
    assert page.status_code == 200, page.text
    consent_id = re.search(r'name="consent_id" value="([^"]+)"', page.text).group(1)
    answer = requests.post(
        f"{base}/connect/authorize/consent",
        data={"consent_id": consent_id, "decision": decision},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(location.query).items()}, verifier


def token(base: str, **form: str) -> requests.Response:
    return requests.post(
        f"{base}/connect/token",
        timeout=10,
        data={"client_id": contract.CLIENT_ID, "client_secret": contract.CLIENT_SECRET, **form},
    )


def login(base: str) -> dict:
    redirect, verifier = authorize(base)
    response = token(
        base,
        grant_type="authorization_code",
        code=redirect["code"],
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert response.status_code == 200, response.text
    return response.json()


def api(base: str, path: str, access: str | None, key: str | None = contract.SUBSCRIPTION_KEY, **params):
    headers = {}
    if access:
        headers["Authorization"] = f"Bearer {access}"
    if key:
        headers["X-Subscription-Key"] = key
    return requests.get(f"{base}{path}", headers=headers, params=params, timeout=10)


def all_items(base: str, path: str, access: str, page_size: int = 7, **params) -> list[dict]:
    items, page = [], 1
    while True:
        body = json.loads(
            api(base, path, access, pageNumber=page, pageSize=page_size, **params).content,
            parse_float=Decimal,
        )
        items.extend(body["data"])
        if page >= body["pagination"]["totalPages"]:
            return items
        page += 1


def test_discovery_document_names_the_endpoints(sandbox):
    doc = requests.get(f"{sandbox.url}/.well-known/openid-configuration", timeout=10).json()
    assert doc["issuer"] == sandbox.url
    assert doc["token_endpoint"] == f"{sandbox.url}/connect/token"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert "offline_access" in doc["scopes_supported"]


def test_oauth_end_to_end_with_rotating_refresh_tokens(sandbox):
    redirect, verifier = authorize(sandbox.url, state="abc")
    assert redirect["state"] == "abc"
    first = token(
        sandbox.url,
        grant_type="authorization_code",
        code=redirect["code"],
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert first.status_code == 200
    tokens = first.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600 and tokens["refresh_token"]
    assert api(sandbox.url, "/api/companies", tokens["access_token"]).status_code == 200

    again = token(
        sandbox.url,
        grant_type="authorization_code",
        code=redirect["code"],
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"  # codes are single use

    second = token(sandbox.url, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert api(sandbox.url, "/api/companies", rotated["access_token"]).status_code == 200

    reuse = token(sandbox.url, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert (
        token(sandbox.url, grant_type="refresh_token", refresh_token=rotated["refresh_token"]).status_code
        == 200
    )


def test_wrong_code_verifier_and_wrong_secret_are_rejected(sandbox):
    redirect, _ = authorize(sandbox.url)
    wrong = token(
        sandbox.url,
        grant_type="authorization_code",
        code=redirect["code"],
        redirect_uri=REDIRECT,
        code_verifier="x" * 50,
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    redirect, verifier = authorize(sandbox.url)
    bad_client = requests.post(
        f"{sandbox.url}/connect/token",
        timeout=10,
        data={
            "client_id": contract.CLIENT_ID,
            "client_secret": "nope",
            "grant_type": "authorization_code",
            "code": redirect["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
    )
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"


def test_basic_client_authentication_is_accepted(sandbox):
    redirect, verifier = authorize(sandbox.url)
    response = requests.post(
        f"{sandbox.url}/connect/token",
        auth=(contract.CLIENT_ID, contract.CLIENT_SECRET),
        data={
            "grant_type": "authorization_code",
            "code": redirect["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert response.status_code == 200


def test_unknown_scope_is_invalid_scope(sandbox):
    response = requests.get(
        f"{sandbox.url}/connect/authorize",
        timeout=10,
        params={
            "client_id": contract.CLIENT_ID,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "company.info.read payroll.write",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert response.status_code == 400
    assert (
        response.json()["error"] == "invalid_scope"
        and "payroll.write" in response.json()["error_description"]
    )


@pytest.mark.parametrize(
    "change,error",
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"redirect_uri": "https://evil.example/callback"}, "invalid_request"),
        ({"client_id": "someone-else"}, "invalid_client"),
    ],
)
def test_authorize_requires_pkce_s256_and_a_registered_client(sandbox, change, error):
    params = {
        "client_id": contract.CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "company.info.read",
        "code_challenge": "x" * 43,
        "code_challenge_method": "S256",
        **change,
    }
    response = requests.get(f"{sandbox.url}/connect/authorize", params=params, timeout=10)
    assert response.status_code == 400 and response.json()["error"] == error


def test_denied_consent_redirects_with_access_denied(sandbox):
    redirect, _ = authorize(sandbox.url, decision="deny")
    assert redirect == {"error": "access_denied", "state": "st-1"}


def test_revoked_refresh_token_no_longer_works(sandbox):
    tokens = login(sandbox.url)
    revoked = requests.post(
        f"{sandbox.url}/connect/revocation",
        timeout=10,
        data={
            "token": tokens["refresh_token"],
            "client_id": contract.CLIENT_ID,
            "client_secret": contract.CLIENT_SECRET,
        },
    )
    assert revoked.status_code == 200
    assert (
        token(sandbox.url, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).status_code
        == 400
    )


def test_rest_requires_subscription_key_and_bearer_token(sandbox):
    access = login(sandbox.url)["access_token"]
    missing_key = api(sandbox.url, "/api/companies", access, key=None)
    assert missing_key.status_code == 401
    assert (
        set(missing_key.json()) == {"title", "detail", "code"}
        and "subscription key" in missing_key.json()["detail"]
    )
    assert api(sandbox.url, "/api/companies", access, key="wrong").status_code == 401
    assert api(sandbox.url, "/api/companies", None).status_code == 401
    invalid = api(sandbox.url, "/api/companies", "made-up-token")
    assert invalid.status_code == 401 and invalid.json()["code"] == "invalid_token"


def test_missing_scope_is_403(sandbox):
    redirect, verifier = authorize(sandbox.url, scope="company.info.read")
    access = token(
        sandbox.url,
        grant_type="authorization_code",
        code=redirect["code"],
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    ).json()["access_token"]
    assert api(sandbox.url, "/api/companies", access).status_code == 200
    denied = api(sandbox.url, "/api/companies/101/employees", access)
    assert denied.status_code == 403 and denied.json()["code"] == "insufficient_scope"


def test_access_tokens_expire(start_sandbox):
    sb = start_sandbox(access_token_seconds=1)
    tokens = login(sb.url)
    assert tokens["expires_in"] == 1
    assert api(sb.url, "/api/companies", tokens["access_token"]).status_code == 200
    time.sleep(1.2)
    assert api(sb.url, "/api/companies", tokens["access_token"]).status_code == 401
    fresh = token(sb.url, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).json()
    assert api(sb.url, "/api/companies", fresh["access_token"]).status_code == 200


def test_rest_paths_and_fields(sandbox):
    access = login(sandbox.url)["access_token"]
    year = sandbox.state.config.first_year
    companies = all_items(sandbox.url, "/api/companies", access)
    assert {c["companyId"] for c in companies} == {101, 102, 103}
    assert all_items(sandbox.url, f"/api/debtors/{contract.DEBTOR_ID}/companies", access) == companies
    runs = all_items(sandbox.url, "/api/companies/101/runs", access, year=year)
    assert len(runs) == 13
    for field in (
        "payrollRunId",
        "number",
        "year",
        "type",
        "locked",
        "createdAt",
        "periodStart",
        "periodEnd",
        "description",
        "runAt",
    ):
        assert field in runs[0], field
    assert runs[5]["type"] == "correction" and runs[5]["periodStart"] == 3
    in_run = all_items(sandbox.url, f"/api/companies/101/runs/{runs[5]['payrollRunId']}/employees", access)
    assert len(in_run) == 1
    employees = all_items(sandbox.url, "/api/companies/101/employees", access)
    assert len(employees) == 8
    assert {"bsn", "birthDate", "firstName", "lastName"} <= set(employees[0]["personalInfo"])
    assert api(sandbox.url, "/api/companies/999/runs", access).status_code == 404


def test_rest_wage_components_are_the_entered_ones_and_match_the_report(sandbox):
    access = login(sandbox.url)["access_token"]
    year = sandbox.state.config.first_year
    fixed = all_items(
        sandbox.url, "/api/companies/101/employees/fixedwagecomponents", access, page_size=25, year=year
    )
    variable = all_items(
        sandbox.url, "/api/companies/101/employees/variablewagecomponents", access, year=year
    )
    assert {c["code"] for c in fixed} == {"1000"} and {c["code"] for c in variable} == {"1100"}
    truth = sandbox.state.truth
    assert len(fixed) == truth.rows("rest_fixed_wage_components", 101, year)
    assert sum(c["value"] for c in fixed) == truth.total("rest_fixed_wage_components", 101, year)
    assert sum(c["value"] for c in variable) == truth.total("rest_variable_wage_components", 101, year)
    assert all(isinstance(c["value"], Decimal) for c in fixed)
    employee = fixed[0]["employeeId"]
    one = all_items(
        sandbox.url,
        "/api/companies/101/employees/fixedwagecomponents",
        access,
        year=year,
        period=3,
        employeeId=employee,
    )
    assert [(c["period"], c["employeeId"]) for c in one] == [(3, employee)]
    assert set(one[0]) >= {"employeeId", "year", "period", "code", "description", "value"}
    recent = all_items(
        sandbox.url,
        "/api/companies/101/employees/fixedwagecomponents",
        access,
        year=year,
        createdFrom=f"{year}-12-01",
    )
    assert {c["period"] for c in recent} == {12}


def test_pagination_shapes_and_bad_page_size(start_sandbox):
    sb = start_sandbox(pagination_style="flat")
    access = sb.state.identity.grant_offline_access()["access_token"]
    body = api(sb.url, "/api/companies", access, pageSize=2, pageNumber=2).json()
    assert "pagination" not in body
    assert (body["pageNumber"], body["pageSize"], body["totalPages"], body["totalRecords"]) == (2, 2, 2, 3)
    assert len(body["data"]) == 1
    bad = api(sb.url, "/api/companies", access, pageSize=0)
    assert bad.status_code == 400 and "pageSize" in bad.json()["detail"]
