"""SOAP faults carry the Nmbrs codes: authentication, permissions, company rights, tasks, bad envelopes."""

from __future__ import annotations

import re
import time

import pytest
import requests

from pipelines.sandbox import contract
from tests.support.soap import call, envelope, fault_text, post_soap, q

OPERATION_ARGS = {
    "Environment_Get": {},
    "List_GetAll": {},
    "Run_GetList": {"CompanyId": 101, "Year": 2025},
    "PersonalInfo_GetAll_AllEmployeesByCompany": {"CompanyID": 101},
    "Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background": {"companyId": 101, "year": 2025},
    "Reports_GetPayslipByRunCompany_v2_Background": {"companyId": 101, "runId": 1012501, "year": 2025},
    "Reports_BackgroundTask_Result": {"TaskId": "00000000-0000-0000-0000-000000000000"},
}


def nmbrs_code(text: str) -> int:
    match = re.search(r"---> (\d+):", text)
    assert match, text
    return int(match.group(1))


def send(sandbox, version, operation, **auth):
    service = contract.SERVICE_OF[operation]
    body = envelope(version, service, operation, OPERATION_ARGS[operation], **auth)
    return post_soap(sandbox.url, version, service, operation, body)


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_wrong_token_is_fault_1001(sandbox, version):
    text = fault_text(send(sandbox, version, "List_GetAll", token="not-a-token"), version)
    assert nmbrs_code(text) == 1001


def test_wrong_username_is_fault_1001(sandbox):
    text = fault_text(send(sandbox, "1.1", "Environment_Get", username="someone@else.example"), "1.1")
    assert nmbrs_code(text) == 1001


def test_missing_auth_header_is_fault_1001(sandbox):
    body = envelope("1.1", "CompanyService", "List_GetAll", header="AuthHeader")  # wrong header kind
    text = fault_text(post_soap(sandbox.url, "1.1", "CompanyService", "List_GetAll", body), "1.1")
    assert nmbrs_code(text) == 1001 and "AuthHeaderWithDomain" in text


def test_wrong_domain_is_fault_2043(sandbox):
    text = fault_text(send(sandbox, "1.1", "Run_GetList", domain="otherdomain"), "1.1")
    assert nmbrs_code(text) == 2043


@pytest.mark.parametrize("operation", sorted(contract.SERVICE_OF))
def test_token_lacking_an_operation_gets_1002_naming_it(sandbox, operation):
    service = contract.SERVICE_OF[operation]
    token = sandbox.state.add_token(contract.ALL_OPERATIONS - {f"{service}.{operation}"})
    text = fault_text(send(sandbox, "1.1", operation, token=token), "1.1")
    assert nmbrs_code(text) == 1002
    assert f"{service}.{operation}" in text


def test_token_with_only_one_operation_can_call_it(sandbox):
    token = sandbox.state.add_token({"CompanyService.List_GetAll"})
    assert len(call(sandbox.url, "1.1", "CompanyService", "List_GetAll", token=token)) == 3


@pytest.mark.parametrize(
    "operation",
    [
        "Run_GetList",
        "PersonalInfo_GetAll_AllEmployeesByCompany",
        "Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background",
    ],
)
def test_unknown_company_is_fault_2004(sandbox, operation):
    service = contract.SERVICE_OF[operation]
    args = {k: (999 if k.lower() == "companyid" else v) for k, v in OPERATION_ARGS[operation].items()}
    body = envelope("1.2", service, operation, args)
    assert nmbrs_code(fault_text(post_soap(sandbox.url, "1.2", service, operation, body), "1.2")) == 2004


def test_company_outside_the_tokens_rights_is_fault_2004_and_hidden_from_list(sandbox):
    token = sandbox.state.add_token(contract.ALL_OPERATIONS, companies={102})
    assert nmbrs_code(fault_text(send(sandbox, "1.1", "Run_GetList", token=token), "1.1")) == 2004
    listed = call(sandbox.url, "1.1", "CompanyService", "List_GetAll", token=token)
    assert [c.findtext(q("CompanyService", "ID")) for c in listed] == ["102"]


def test_unknown_task_is_fault_2019(sandbox):
    assert nmbrs_code(fault_text(send(sandbox, "1.1", "Reports_BackgroundTask_Result"), "1.1")) == 2019


def test_unknown_run_is_fault_2046(sandbox):
    body = envelope(
        "1.1",
        "ReportService",
        "Reports_GetPayslipByRunCompany_v2_Background",
        {"companyId": 101, "runId": 42, "year": 2025},
    )
    response = post_soap(
        sandbox.url, "1.1", "ReportService", "Reports_GetPayslipByRunCompany_v2_Background", body
    )
    assert nmbrs_code(fault_text(response, "1.1")) == 2046


@pytest.mark.parametrize("kind,status", [("task_error", "Error"), ("task_unknown", "Unknown")])
def test_background_task_can_end_in_error_or_unknown(start_sandbox, kind, status):
    sb = start_sandbox(task_seconds=0.3)
    sb.state.faults.inject("soap:ReportService.Reports_Accountant_*", kind)
    year = sb.state.config.first_year
    task = call(
        sb.url,
        "1.1",
        "ReportService",
        "Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background",
        {"companyId": 101, "year": year},
    ).text
    seen = []
    for _ in range(100):
        result = call(sb.url, "1.1", "ReportService", "Reports_BackgroundTask_Result", {"TaskId": task})
        seen.append(result.findtext(q("ReportService", "Status")))
        if seen[-1] == status:
            break
        time.sleep(0.02)
    assert seen[0] == "Enqueued" and "Executing" in seen and seen[-1] == status
    assert result.find(q("ReportService", "Content")) is None


def test_injected_nmbrs_fault_code(start_sandbox):
    sb = start_sandbox()
    sb.state.faults.inject("soap:CompanyService.List_GetAll", "fault", code=1006)
    assert nmbrs_code(fault_text(send(sb, "1.2", "List_GetAll"), "1.2")) == 1006
    assert len(call(sb.url, "1.2", "CompanyService", "List_GetAll")) == 3


def test_soap_action_must_match_the_body(sandbox):
    body = envelope("1.1", "CompanyService", "List_GetAll")
    response = post_soap(sandbox.url, "1.1", "CompanyService", "Run_GetList", body)
    assert "SOAPAction" in fault_text(response, "1.1")


def test_unqualified_children_are_not_read(sandbox):
    """Nmbrs reads only namespace-qualified children (elementFormDefault=qualified)."""
    ns = contract.namespace("CompanyService")
    body = (
        f'<soap:Envelope xmlns:soap="{contract.SOAP11_ENV}"><soap:Header><AuthHeaderWithDomain xmlns="{ns}">'
        f"<Username>{contract.USERNAME}</Username><Token>{contract.TOKEN}</Token><Domain>{contract.DOMAIN}</Domain>"
        f'</AuthHeaderWithDomain></soap:Header><soap:Body><ns0:Run_GetList xmlns:ns0="{ns}"><CompanyId>101'
        f"</CompanyId><Year>2025</Year></ns0:Run_GetList></soap:Body></soap:Envelope>"
    ).encode()
    response = post_soap(sandbox.url, "1.1", "CompanyService", "Run_GetList", body)
    assert nmbrs_code(fault_text(response, "1.1")) == 2004  # CompanyId was not read: company 0


def test_dtd_and_entities_are_refused(sandbox):
    body = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + envelope(
        "1.1", "CompanyService", "List_GetAll"
    ).split(b"?>", 1)[1].replace(b"<Token>", b"<Token>&e;")
    response = post_soap(sandbox.url, "1.1", "CompanyService", "List_GetAll", body)
    text = fault_text(response, "1.1")
    assert "root:" not in response.text and "DTD" in text


def test_wrong_content_type_is_refused(sandbox):
    response = post_soap(sandbox.url, "1.1", "CompanyService", "List_GetAll", b"<x/>")
    assert response.status_code == 500
    response = requests.post(
        f"{sandbox.url}/soap/v3/CompanyService.asmx",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 500 and "content type" in response.text
