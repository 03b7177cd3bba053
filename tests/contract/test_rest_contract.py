"""The sandbox's REST API and the product's REST client, held to the vendor's OpenAPI document.

- Every answer the product's client reads from the sandbox (lists, document tasks and contents,
  and the errors it handles) validates against the document's schema for that operation and
  status: zero violations.
- The document's own examples go through the product's REST mappers and error handling.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
import requests

from pipelines.lib.nmbrs import oauth
from pipelines.lib.nmbrs import rest_records as records
from pipelines.lib.nmbrs.errors import RestError
from pipelines.lib.nmbrs.rest import NmbrsRestClient
from pipelines.lib.nmbrs.tokens import TokenStore
from tests.contract import openapi
from tests.support.nmbrs import settings_for
from tests.support.sandboxes import sandboxes


class Recorder:
    """Every answer the client received: (path, status, content type, body)."""

    def __init__(self, base_url: str):
        self.base = base_url
        self.answers: list[tuple[str, int, str, object]] = []

    def __call__(self, response: requests.Response, **kwargs) -> None:
        path = response.url[len(self.base) :].split("?", 1)[0]
        content_type = response.headers.get("Content-Type", "")
        body = json.loads(response.content, parse_float=Decimal) if "json" in content_type else response.text
        self.answers.append((path, response.status_code, content_type, body))


@pytest.fixture(scope="module")
def sandbox_for_contract():
    with sandboxes() as start:
        yield start()


@pytest.fixture(scope="module")
def multi_debtor_sandbox():
    with sandboxes() as start:
        yield start(debtors=2)


def _client(sandbox, url) -> tuple[NmbrsRestClient, Recorder]:
    settings = settings_for(sandbox)
    store = TokenStore(url, settings)
    oauth.connect(settings, store, show_url=lambda _: None, auto_approve=True, timeout=10)
    client = NmbrsRestClient(settings, store)
    recorder = Recorder(sandbox.url)
    client.session.hooks["response"].append(recorder)
    return client, recorder


def _read_everything(client: NmbrsRestClient, year: int) -> None:
    """What the product reads: companies, then per company its period type, runs, employees, their
    history and org structure, entered components, the run output and every journal variant."""
    for company in client.companies():
        assert client.period_type(company.company_id) in {"Month", "Week4"}
        runs = client.runs(company.company_id, year)
        client.employees(company.company_id)
        client.personal_info(company.company_id)
        client.departments(company.company_id)
        client.cost_centers(company.company_id)
        client.entered_wage_components(company.company_id, year, sorted({r.period_start for r in runs})[:2])
        client.run_employees(company.company_id, runs[0].payroll_run_id)
        client.run_outputs(company.company_id, runs[:3])
        client.journals(company.company_id, runs[:2], openapi_variants())


def openapi_variants() -> tuple[str, ...]:
    return ("journals", "journalscostcenter", "journalsdepartment", "journalsemployee")


def _provoke_errors(client: NmbrsRestClient, sandbox, company_id: str, year: int) -> None:
    """The error answers the client handles, each once."""
    faults = sandbox.state.faults
    for kind, params in (
        ("quota", {}),
        ("429", {"retry_after": 0}),
        ("502", {}),
        ("503", {}),
        ("500", {}),
        ("forbidden", {"code": 40303}),
        ("401", {}),
    ):
        faults.inject("rest:runs", kind, **params)
        try:
            client.runs(company_id, year)
        except RestError:
            pass
    for params in ({"pageSize": 101}, {"pageNumber": 0}):
        with pytest.raises(RestError):
            client.get("/api/companies", params)
    with pytest.raises(RestError):
        client.runs(str(uuid.uuid4()), year)


def test_every_rest_answer_the_product_reads_validates_against_the_vendor_schemas(
    sandbox_for_contract, multi_debtor_sandbox, warehouse_url
):
    year = sandbox_for_contract.state.config.first_year
    sandbox_for_contract.state.tasks.seconds = 0.5  # so that documents answer 202 before 200
    client, recorder = _client(sandbox_for_contract, warehouse_url)
    with client:
        _read_everything(client, year)
        _provoke_errors(client, sandbox_for_contract, client.companies()[0].company_id, year)
    multi_client, multi_recorder = _client(multi_debtor_sandbox, warehouse_url)
    with multi_client:
        multi_client.companies()
    answers = recorder.answers + multi_recorder.answers
    problems = [
        line for path, status, kind, body in answers for line in openapi.violations(path, status, kind, body)
    ]
    assert problems == []
    seen = {(openapi.operation(path)[0], status) for path, status, _, _ in answers}
    expected = {
        ("/api/companies", 200),
        ("/api/companies", 403),
        ("/api/companies", 400),
        ("/api/debtors", 200),
        ("/api/debtors/{debtorId}/companies", 200),
        ("/api/companies/{companyId}/period", 200),
        ("/api/companies/{companyId}/runs", 200),
        ("/api/companies/{companyId}/runs", 404),
        ("/api/companies/{companyId}/runs", 401),
        ("/api/companies/{companyId}/runs", 403),
        ("/api/companies/{companyId}/runs", 429),
        ("/api/companies/{companyId}/runs", 500),
        ("/api/companies/{companyId}/runs", 502),
        ("/api/companies/{companyId}/runs", 503),
        ("/api/companies/{companyId}/employees", 200),
        ("/api/companies/{companyId}/employees/personalinfo", 200),
        ("/api/companies/{companyId}/employees/departments", 200),
        ("/api/companies/{companyId}/employees/costcenters", 200),
        ("/api/companies/{companyId}/employees/fixedWageComponents", 200),
        ("/api/companies/{companyId}/employees/variablewagecomponents", 200),
        ("/api/companies/{companyId}/runs/{payrollRunId}/employees", 200),
        ("/api/companies/{companyId}/runs/{payrollRunId}/wagecodes/xml", 200),
        ("/api/companies/{companyId}/runs/{payrollRunId}/journals", 200),
        ("/api/companies/{companyId}/runs/{payrollRunId}/journalscostcenter", 200),
        ("/api/companies/{companyId}/runs/{payrollRunId}/journalsdepartment", 200),
        ("/api/companies/{companyId}/runs/{payrollRunId}/journalsemployee", 200),
        ("/api/documents/{taskId}", 202),
        ("/api/documents/{taskId}", 200),
    }
    assert expected <= seen, sorted(expected - seen)


def test_the_validator_finds_a_broken_answer():
    good = {
        "data": [{"companyId": str(uuid.uuid4()), "number": "1", "name": "x", "debtorId": str(uuid.uuid4())}]
    }
    assert openapi.violations("/api/companies", 200, "application/json", good) == []
    broken = {"data": [{"companyId": 101, "number": 1, "name": "x"}]}  # the first edition's guess
    found = openapi.violations("/api/companies", 200, "application/json", broken)
    assert len(found) == 2 and all("data/0" in line for line in found)
    assert openapi.violations(
        "/api/companies",
        400,
        "application/json",
        {"title": "Bad Request", "detail": "x", "code": "invalid_parameter"},
    )


MAPPERS = {
    "/api/companies": lambda item: records.company(item),
    "/api/debtors": lambda item: records.debtor(item),
    "/api/companies/{companyId}/runs": lambda item: records.run("c", item),
    "/api/companies/{companyId}/employees": lambda item: records.employee("c", item),
    "/api/companies/{companyId}/employees/personalinfo": lambda item: records.personal_infos("c", item),
    "/api/companies/{companyId}/employees/departments": lambda item: records.departments("c", item),
    "/api/companies/{companyId}/employees/costcenters": lambda item: records.cost_centers("c", item),
    "/api/companies/{companyId}/employees/fixedWageComponents": lambda item: records.entered_wage_components(
        "c", "fixed", 2021, 4, item
    ),
    "/api/companies/{companyId}/employees/variablewagecomponents": lambda item: (
        records.entered_wage_components("c", "variable", 2021, 4, item)
    ),
}
TASK_PATHS = (
    "/api/companies/{companyId}/runs/{payrollRunId}/wagecodes/xml",
    "/api/companies/{companyId}/runs/{payrollRunId}/journals",
    "/api/companies/{companyId}/runs/{payrollRunId}/journalscostcenter",
    "/api/companies/{companyId}/runs/{payrollRunId}/journalsdepartment",
    "/api/companies/{companyId}/runs/{payrollRunId}/journalsemployee",
)


def test_the_vendor_examples_go_through_the_product_mappers():
    mapped = 0
    for template, mapper in MAPPERS.items():
        for example in openapi.examples(template):
            for item in example["data"]:
                result = mapper(item)
                assert result, template
                mapped += 1
    for template in TASK_PATHS:
        for example in openapi.examples(template):
            assert str(uuid.UUID(records.task_id(example, template)))
            mapped += 1
    assert mapped >= 9  # companies, debtors, employees, history, departments, fixed, variable, tasks
    history = records.personal_infos(
        "c", next(openapi.examples("/api/companies/{companyId}/employees/personalinfo"))["data"][0]
    )
    assert history[0].employee_number == 98072 and history[0].gender == "unspecified"


@pytest.mark.parametrize("status", ["400", "401", "403", "404", "429", "500", "502", "503"])
def test_the_vendor_error_examples_become_errors_with_integer_codes(
    status, sandbox_for_contract, warehouse_url
):
    settings = settings_for(sandbox_for_contract)
    client = NmbrsRestClient(settings, TokenStore(warehouse_url, settings))
    path = "/api/companies/5b6a77c7-6abe-4f31-93dc-2692169e3ea4/runs"
    found = list(openapi.examples("/api/companies/{companyId}/runs", status))
    assert found
    for example in found:
        response = requests.Response()
        response.status_code = int(status)
        response._content = json.dumps(example).encode()
        response.headers["Content-Type"] = "application/json"
        error = client._error(path, response)
        assert error.code == example["code"] and isinstance(error.code, int)
        assert error.retryable == (example["code"] in (42908, 50001, 50201, 50301))
        assert "Fix: " in str(error)
    client.close()
