"""OAuth (PKCE, consent, rotating refresh tokens) and the REST API (keys, scopes, pagination, wage components)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
import uuid
from decimal import Decimal
from urllib.parse import parse_qs, quote, urlsplit

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


def test_basic_client_authentication_is_decoded_as_rfc_6749_says(sandbox):
    """The server percent-decodes both halves after splitting on the first colon, as a real one does:
    the encoded secret is accepted, the same secret sent raw (its `+` read as a space) is not."""
    encoded = base64.b64encode(
        f"{quote(contract.CLIENT_ID, safe='')}:{quote(contract.CLIENT_SECRET, safe='')}".encode()
    ).decode()
    for header, status in ((f"Basic {encoded}", 200), (None, 401)):
        redirect, verifier = authorize(sandbox.url)
        response = requests.post(
            f"{sandbox.url}/connect/token",
            headers={"Authorization": header} if header else {},
            auth=None if header else (contract.CLIENT_ID, contract.CLIENT_SECRET),
            data={
                "grant_type": "authorization_code",
                "code": redirect["code"],
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
            timeout=10,
        )
        assert response.status_code == status, response.text


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


def company_path(sandbox, company_id: int = 101) -> str:
    return f"/api/companies/{sandbox.state.rest_ids.company(sandbox.state.world.company(company_id))}"


def test_rest_requires_subscription_key_and_bearer_token(sandbox):
    access = login(sandbox.url)["access_token"]
    missing_key = api(sandbox.url, "/api/companies", access, key=None)
    assert missing_key.status_code == 401 and "subscription key" in missing_key.json()["message"]
    assert api(sandbox.url, "/api/companies", access, key="wrong").status_code == 401
    no_token = api(sandbox.url, "/api/companies", None)
    assert no_token.status_code == 401 and no_token.json()["code"] == 40101
    invalid = api(sandbox.url, "/api/companies", "made-up-token")
    assert invalid.status_code == 401 and invalid.json()["code"] == 40102
    assert invalid.json()["type"] == "authenticationError" and invalid.json()["httpStatus"] == 401


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
    denied = api(sandbox.url, f"{company_path(sandbox)}/employees", access)
    assert denied.status_code == 403 and isinstance(denied.json()["code"], int)
    assert "employee.info.read" in denied.json()["detail"]


def test_document_scopes_guard_run_output_and_document_content(sandbox):
    run = sandbox.state.world.runs(101, sandbox.state.config.first_year)[0]
    output = f"{company_path(sandbox)}/runs/{run.payroll_run_id}/wagecodes/xml"
    without = sandbox.state.identity.grant_offline_access(contract.SCOPES - {"company.document.read"})
    assert api(sandbox.url, output, without["access_token"], year=run.year).status_code == 403
    reader = sandbox.state.identity.grant_offline_access(contract.SCOPES - {"document.read"})
    task = api(sandbox.url, output, reader["access_token"], year=run.year).json()["taskId"]
    assert api(sandbox.url, f"/api/documents/{task}", reader["access_token"]).status_code == 403


def test_access_tokens_expire(start_sandbox):
    sb = start_sandbox(access_token_seconds=1)
    tokens = login(sb.url)
    assert tokens["expires_in"] == 1
    assert api(sb.url, "/api/companies", tokens["access_token"]).status_code == 200
    time.sleep(1.2)
    expired = api(sb.url, "/api/companies", tokens["access_token"])
    assert expired.status_code == 401 and expired.json()["code"] == 40102
    fresh = token(sb.url, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).json()
    assert api(sb.url, "/api/companies", fresh["access_token"]).status_code == 200


def test_rest_ids_are_uuids_stable_for_the_seed(sandbox, start_sandbox):
    access = login(sandbox.url)["access_token"]
    again = start_sandbox(as_of=sandbox.state.config.as_of.isoformat())
    other_access = again.state.identity.grant_offline_access()["access_token"]
    companies = all_items(sandbox.url, "/api/companies", access)
    assert companies == all_items(again.url, "/api/companies", other_access)  # same seed, same ids
    # The demo world's company numbers equal the SOAP ids (pipelines/sandbox/generator.py).
    assert [c["number"] for c in companies] == ["101", "102", "103"]
    for company in companies:
        assert str(uuid.UUID(company["companyId"])) == company["companyId"]
    other_seed = start_sandbox(seed=7)
    assert (
        all_items(
            other_seed.url, "/api/companies", other_seed.state.identity.grant_offline_access()["access_token"]
        )[0]["companyId"]
        != companies[0]["companyId"]
    )
    assert api(sandbox.url, "/api/companies/101/runs", access).status_code == 400  # a SOAP id is no REST id
    unknown = api(sandbox.url, f"/api/companies/{uuid.uuid4()}/runs", access)
    assert unknown.status_code == 404 and unknown.json()["code"] == 40404


def test_rest_paths_and_fields(sandbox):
    access = login(sandbox.url)["access_token"]
    year = sandbox.state.config.first_year
    companies = all_items(sandbox.url, "/api/companies", access)
    assert {tuple(c) for c in companies} == {("companyId", "number", "name", "debtorId")}
    debtors = all_items(sandbox.url, "/api/debtors", access)
    assert all_items(sandbox.url, f"/api/debtors/{debtors[0]['debtorId']}/companies", access) == companies
    runs = all_items(sandbox.url, f"{company_path(sandbox)}/runs", access, year=year)
    assert len(runs) == 13
    assert set(runs[0]) == {
        "payrollRunId",
        "number",
        "description",
        "year",
        "periodStart",
        "periodEnd",
        "createdAt",
        "type",
        "locked",
    }
    assert runs[5]["type"] == "twk" and runs[5]["periodStart"] == 3 and runs[0]["type"] == "normal"
    in_run = all_items(
        sandbox.url, f"{company_path(sandbox)}/runs/{runs[5]['payrollRunId']}/employees", access
    )
    assert len(in_run) == 1 and set(in_run[0]) == {"employeeId", "employeeNumber"}
    employees = all_items(sandbox.url, f"{company_path(sandbox)}/employees", access)
    assert len(employees) == 8 and {tuple(e) for e in employees} == {("employeeId", "employeeBasicInfo")}
    history = all_items(sandbox.url, f"{company_path(sandbox)}/employees/personalinfo", access)
    first = next(h for h in history if h["info"][0]["basicInfo"]["employeeNumber"] == 1)
    assert len(first["info"]) == 2 and first["info"][0]["createdAt"] > first["info"][1]["createdAt"]
    assert "bsn" not in str(history).lower()  # the BSN is only in privateInfos, which the product never reads
    departments = all_items(sandbox.url, f"{company_path(sandbox)}/employees/departments", access)
    assert sorted(len(d["departments"]) for d in departments)[-1] == 2  # one employee moved
    centres = all_items(sandbox.url, f"{company_path(sandbox)}/employees/costcenters", access)
    assert {c["employeeCostCenters"][0]["costCenters"]["code"] for c in centres} == {"100", "200", "300"}


def test_a_multi_debtor_consent_gets_40306_and_lists_per_debtor(start_sandbox):
    sb = start_sandbox(debtors=2)
    access = sb.state.identity.grant_offline_access()["access_token"]
    refused = api(sb.url, "/api/companies", access)
    assert refused.status_code == 403 and refused.json()["code"] == 40306
    debtors = all_items(sb.url, "/api/debtors", access)
    per_debtor = [all_items(sb.url, f"/api/debtors/{d['debtorId']}/companies", access) for d in debtors]
    assert [len(c) for c in per_debtor] == [2, 1]
    assert {c["debtorId"] for c in per_debtor[1]} == {debtors[1]["debtorId"]}


def test_rest_wage_components_are_nested_per_employee_and_match_the_report(sandbox):
    access = login(sandbox.url)["access_token"]
    year = sandbox.state.config.first_year
    base = f"{company_path(sandbox)}/employees"
    truth = sandbox.state.truth
    fixed, variable = [], []
    for period in range(1, 13):
        for kind, found in (("fixedWageComponents", fixed), ("variablewagecomponents", variable)):
            for item in all_items(sandbox.url, f"{base}/{kind}", access, year=year, period=period):
                found.extend(item[kind])
    assert {c["code"] for c in fixed} == {1000} and {c["code"] for c in variable} == {1100}
    assert len(fixed) == truth.rows("rest_fixed_wage_components", 101, year)
    assert sum(c["value"] for c in fixed) == truth.total("rest_fixed_wage_components", 101, year)
    assert sum(c["value"] for c in variable) == truth.total("rest_variable_wage_components", 101, year)
    assert all(isinstance(c["value"], Decimal) for c in fixed)
    employee = sandbox.state.rest_ids.employee(sandbox.state.world.employees(101)[0])
    one = all_items(
        sandbox.url, f"{base}/fixedWageComponents", access, year=year, period=3, employeeId=employee
    )
    assert [item["employeeId"] for item in one] == [employee] and len(one[0]["fixedWageComponents"]) == 1
    recent = all_items(
        sandbox.url, f"{base}/fixedWageComponents", access, year=year, period=3, createdFrom=f"{year}-05-01"
    )
    corrected = sandbox.state.world.employees(101)[0]
    assert [item["employeeId"] for item in recent] == [sandbox.state.rest_ids.employee(corrected)]


def test_page_size_above_100_is_a_validation_error(sandbox):
    access = sandbox.state.identity.grant_offline_access()["access_token"]
    body = api(sandbox.url, "/api/companies", access, pageSize=2, pageNumber=2).json()
    meta = body["pagination"]
    assert (meta["pageNumber"], meta["pageSize"], meta["totalPages"], meta["totalRecords"]) == (2, 2, 2, 3)
    assert len(body["data"]) == 1 and meta["nextPage"] is None and "pageNumber=1" in meta["previousPage"]
    assert api(sandbox.url, "/api/companies", access).json()["pagination"]["pageSize"] == 20
    assert api(sandbox.url, "/api/companies", access, pageSize=100).status_code == 200
    for size in (101, 400, 0):
        bad = api(sandbox.url, "/api/companies", access, pageSize=size)
        assert bad.status_code == 400, size
        assert (bad.json()["type"], bad.json()["code"]) == ("validationError", 40033)
        assert bad.json()["invalid-params"][0]["name"] == "pageSize"


def test_a_sandbox_started_again_on_the_same_grants_file_honours_the_refresh_token_once(tmp_path):
    """Issue 14 item 6: `payroll demo` starts a new sandbox every run; with the grants kept in the
    state folder its stored refresh token still works (once: it rotates), so the client does not
    connect again on every run. The file holds digests only, readable by its owner."""
    from pipelines.sandbox.identity import IdentityStore, OAuthError

    grants = tmp_path / "sandbox-oauth-grants.json"
    first = IdentityStore(access_token_seconds=60)
    assert first.keep_grants_in(grants) == 0
    issued = first.grant_offline_access()
    refresh = issued["refresh_token"]
    assert refresh not in grants.read_text() and issued["access_token"] not in grants.read_text()
    assert grants.stat().st_mode & 0o777 == 0o600

    restarted = IdentityStore(access_token_seconds=60)  # the next run's sandbox
    assert restarted.keep_grants_in(grants) == 1
    assert restarted.access(issued["access_token"]) is None  # access tokens are not kept
    rotated = restarted.refresh(contract.CLIENT_ID, refresh)
    assert rotated["refresh_token"] != refresh and restarted.access(rotated["access_token"]) is not None

    again = IdentityStore(access_token_seconds=60)
    again.keep_grants_in(grants)
    with pytest.raises(OAuthError):
        again.refresh(contract.CLIENT_ID, refresh)  # used once: refused after a restart too
    assert again.refresh(contract.CLIENT_ID, rotated["refresh_token"])["access_token"]
