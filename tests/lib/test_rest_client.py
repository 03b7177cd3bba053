"""The REST client against the sandbox on the vendor's contract: ids, paging, error codes, OAuth
client authentication, and the run output and journals through document tasks."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from pipelines.lib.nmbrs import oauth, rest
from pipelines.lib.nmbrs.documents import parse_journal, unbalanced
from pipelines.lib.nmbrs.errors import DocumentTimeout, OAuthError, QuotaExhausted, RestError
from pipelines.lib.nmbrs.rest import NmbrsRestClient
from pipelines.lib.nmbrs.tokens import TokenStore
from pipelines.sandbox import contract
from pipelines.sandbox.documents import journal_xml
from tests.support.nmbrs import settings_for
from tests.support.sandboxes import sandboxes


@pytest.fixture
def connected(sb, warehouse_url):
    settings = settings_for(sb)
    store = TokenStore(warehouse_url, settings)
    oauth.connect(settings, store, show_url=lambda url: None, auto_approve=True, timeout=10)
    return settings, store


def company_uuid(sandbox, company_id: int) -> str:
    return sandbox.state.rest_ids.company(sandbox.state.world.company(company_id))


def test_ids_are_uuid_strings_and_company_numbers_strings(sb, connected):
    with NmbrsRestClient(*connected) as client:
        companies = client.companies()
        runs = client.runs(companies[0].company_id, sb.state.config.first_year)
        employees = client.employees(companies[0].company_id)
    for value in (
        [c.company_id for c in companies]
        + [r.payroll_run_id for r in runs]
        + [e.employee_id for e in employees]
    ):
        assert isinstance(value, str) and str(uuid.UUID(value)) == value
    assert [c.number for c in companies] == ["101", "102", "103"]  # the demo world: number = SOAP id
    assert all(isinstance(e.employee_number, int) for e in employees)


def test_the_client_never_asks_for_more_than_100_items_a_page(sb, connected):
    sent: list[str] = []
    with NmbrsRestClient(*connected) as client:
        client.session.hooks["response"].append(lambda response, **kwargs: sent.append(response.url))
        with pytest.raises(ValueError, match="1 to 100"):
            next(client.paginate("/api/companies", page_size=400))
        assert sent == []  # refused before anything was sent
        bakery = client.companies()[0]
        client.employees(bakery.company_id)
        client.runs(bakery.company_id, sb.state.config.first_year)
    sizes = {parse_qs(urlsplit(url).query)["pageSize"][0] for url in sent}
    assert len(sent) == 3 and sizes == {"100"}


@pytest.fixture
def multi_debtor():
    """A sandbox whose REST consent spans two debtors."""
    with sandboxes() as start:
        yield start(debtors=2)


def test_a_consent_over_several_debtors_lists_companies_per_debtor(multi_debtor, warehouse_url):
    sandbox = multi_debtor
    settings = settings_for(sandbox)
    store = TokenStore(warehouse_url, settings)
    oauth.connect(settings, store, show_url=lambda url: None, auto_approve=True, timeout=10)
    with NmbrsRestClient(settings, store) as client:
        companies = client.companies()
    calls = sandbox.state.counters.snapshot()["calls"]
    assert sorted(c.company_id for c in companies) == sorted(
        company_uuid(sandbox, c.id) for c in sandbox.state.world.companies()
    )
    assert len({c.debtor_id for c in companies}) == 2
    assert calls["rest:companies"] == 1 and calls["rest:debtors"] == 1 and calls["rest:debtor_companies"] == 2


def test_quota_exhausted_fails_at_once_without_retries(sb, connected):
    sb.state.faults.inject("rest:companies", "quota", times=None)
    sb.state.counters.reset()
    with NmbrsRestClient(*connected) as client:
        with pytest.raises(QuotaExhausted, match=r"code 42909\): quota exhausted.*billing cycle") as error:
            client.companies()
        assert client.retries == 0
    assert error.value.retryable is False
    assert sb.state.counters.snapshot()["calls"]["rest:companies"] == 1


def test_an_expired_token_is_refreshed_once(sb, connected):
    settings, store = connected
    sb.state.identity.expire_access_tokens()
    with NmbrsRestClient(settings, store) as client:
        assert len(client.companies()) == 3
    assert store.refreshes == 1


def test_a_token_refused_again_after_its_refresh_is_not_refreshed_twice(sb, connected):
    settings, store = connected
    sb.state.faults.inject("rest:companies", "401", times=2)
    with NmbrsRestClient(settings, store, max_attempts=1) as client:
        with pytest.raises(RestError, match=r"HTTP 401, code 40102.*run `payroll connect` again"):
            client.companies()
    assert store.refreshes == 1


@pytest.mark.parametrize("code", [40303, 40305])
def test_no_access_to_data_names_the_company(sb, connected, code):
    sb.state.faults.inject("rest:runs", "forbidden", times=None, code=code)
    with NmbrsRestClient(*connected) as client:
        bakery = next(c for c in client.companies() if c.number == "101")
        with pytest.raises(RestError, match=rf"code {code}\).*company 101 'Bakkerij de Vries B.V.'") as error:
            client.runs(bakery.company_id, sb.state.config.first_year)
        assert client.retries == 0
    assert bakery.company_id in str(error.value)


def test_a_missing_scope_names_the_scope(sb, warehouse_url):
    settings = settings_for(sb, NMBRS_SCOPES="company.info.read offline_access")
    store = TokenStore(warehouse_url, settings)
    oauth.connect(settings, store, show_url=lambda url: None, auto_approve=True, timeout=10)
    with NmbrsRestClient(settings, store) as client:
        company = client.companies()[0]
        with pytest.raises(RestError, match="allow the scope company.payrollsettings.read"):
            client.runs(company.company_id, sb.state.config.first_year)


def test_the_secret_is_percent_encoded_in_basic_authentication(sb, warehouse_url):
    assert set("%+*$:/") <= set(contract.CLIENT_SECRET)
    settings = settings_for(sb)
    store = TokenStore(warehouse_url, settings)
    oauth.connect(settings, store, show_url=lambda url: None, auto_approve=True, timeout=10)
    assert store.is_connected()
    # The same secret joined without the RFC 6749 encoding is what a real server refuses.
    plain = requests.post(
        f"{sb.url}/connect/token",
        auth=(contract.CLIENT_ID, contract.CLIENT_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        timeout=10,
    )
    assert plain.status_code == 401 and plain.json()["error"] == "invalid_client"
    header = oauth.basic_auth_header(contract.CLIENT_ID, contract.CLIENT_SECRET)
    assert header == "Basic cGF5cm9sbC1zYW5kYm94OnNhbmRib3gtc2VjcmV0JTI1JTJCJTJBJTI0JTNBJTJG"


def test_a_wrong_secret_is_invalid_client(sb, warehouse_url):
    settings = settings_for(sb, NMBRS_CLIENT_SECRET="sandbox-secret% *$:/")
    store = TokenStore(warehouse_url, settings)
    with pytest.raises(OAuthError, match=r"invalid_client.*NMBRS_CLIENT_SECRET"):
        oauth.connect(settings, store, show_url=lambda url: None, auto_approve=True, timeout=10)


def test_run_output_waits_for_the_document_and_equals_the_payslips(sb, connected):
    sb.state.tasks.seconds = 2.0
    try:
        with NmbrsRestClient(*connected) as client:
            bakery = company_uuid(sb, 101)
            runs = client.runs(bakery, sb.state.config.first_year)
            sb.state.counters.reset()
            started = time.monotonic()
            outputs = client.run_outputs(bakery, runs)
            waited = time.monotonic() - started
    finally:
        sb.state.tasks.seconds = 0.2
    calls = sb.state.counters.snapshot()["calls"]
    assert calls["rest:run_output"] == len(runs)
    assert calls["rest:documents"] > len(runs)  # 202 first, then 200: every task was asked again
    assert waited < 2.0 * 3  # the tasks ran together, not one after the other
    world = sb.state.world
    for run in world.runs(101, sb.state.config.first_year):
        expected = {
            (
                sb.state.rest_ids.employee(world.employee(101, row.employee_id)),
                row.period,
                line.code,
            ): line.value
            for row in world.payslips(run)
            for line in row.lines
        }
        lines = outputs[run.payroll_run_id]
        assert {(x.employee_id, x.period, x.code): x.value for x in lines} == expected
        assert {x.run_number for x in lines} == {run.number}


def test_a_document_not_ready_by_the_deadline_fails_clearly(sb, warehouse_url):
    settings = settings_for(sb, NMBRS_REPORT_DEADLINE_SECONDS="1")
    store = TokenStore(warehouse_url, settings)
    oauth.connect(settings, store, show_url=lambda url: None, auto_approve=True, timeout=10)
    sb.state.faults.inject("rest:run_output", "task_slow", seconds=30)
    with NmbrsRestClient(settings, store) as client:
        bakery = company_uuid(sb, 101)
        run = client.runs(bakery, sb.state.config.first_year)[0]
        with pytest.raises(DocumentTimeout, match=r"run output of run 1 .*NMBRS_REPORT_DEADLINE_SECONDS"):
            client.run_output(bakery, run)


@pytest.mark.parametrize(
    "variant", ["journals", "journalscostcenter", "journalsdepartment", "journalsemployee"]
)
def test_journals_balance_and_carry_nmbrs_accounts(sb, connected, variant):
    with NmbrsRestClient(*connected) as client:
        bakery = company_uuid(sb, 101)
        runs = client.runs(bakery, sb.state.config.first_year)
        journals = client.journals(bakery, runs, [variant])
    assert set(journals) == {(r.payroll_run_id, variant) for r in runs}
    for lines in journals.values():
        assert lines and unbalanced(lines) == {}
        assert all(line.value > 0 and line.side in ("debit", "credit") for line in lines)
    accounts = {line.account for lines in journals.values() for line in lines}
    assert "1510" in accounts  # Nmbrs books 4200 on 1510, where our mapping says 1500
    dimensions = {line.dimension for lines in journals.values() for line in lines}
    assert (dimensions == {None}) == (variant == "journals")


def test_an_unbalanced_journal_is_found(sb):
    world = sb.state.world
    company = world.company(101)
    run = world.runs(101, sb.state.config.first_year)[0]
    content = journal_xml(sb.state.rest_ids, company, world.payslips(run), "journals")
    tampered = content.replace("<debitcredit>credit</debitcredit>", "<debitcredit>debit</debitcredit>", 1)
    lines = parse_journal(tampered.encode(), "c", run.payroll_run_id, "journals")
    assert list(unbalanced(lines)) == [(run.year, run.period_start)]


def test_the_run_outputs_of_a_year_add_up_to_the_soap_period_report(sb, connected):
    """REST-only and SOAP-only marts can agree to the cent: same money, per employee, period and code."""
    year = sb.state.config.first_year
    totals: dict[tuple[str, int, str], Decimal] = {}
    with NmbrsRestClient(*connected) as client:
        for company in sb.state.world.companies():
            rest_id = company_uuid(sb, company.id)
            for lines in client.run_outputs(rest_id, client.runs(rest_id, year)).values():
                for line in lines:
                    key = (line.employee_id, line.period, line.code)
                    totals[key] = totals.get(key, Decimal("0.00")) + line.value
    ids, world = sb.state.rest_ids, sb.state.world
    by_number = {(c.number, e.number): e for c in world.companies() for e in world.employees(c.id)}
    expected = {  # truth lines are keyed on the employee number, as the warehouse is
        (ids.employee(by_number[(x.company_id, x.employee_id)]), x.period, x.code): x.value
        for x in sb.state.truth.lines("wage_components", year=year)
    }
    assert totals == expected


def test_the_default_consent_asks_for_the_document_scopes(sb, warehouse_url):
    settings = settings_for(sb)
    assert {"company.document.read", "document.read", "offline_access"} <= set(settings.scopes)
    store = TokenStore(warehouse_url, settings)
    tokens = oauth.connect(settings, store, show_url=lambda url: None, auto_approve=True, timeout=10)
    assert {"company.document.read", "document.read"} <= set(tokens.scope.split())


def test_a_listing_past_the_page_bound_is_refused_without_retries(sb, connected, monkeypatch):
    """Issue 16 item 3: a server that declares endless pages cannot keep a sync asking."""
    monkeypatch.setattr(rest, "MAX_PAGES", 3)
    sb.state.faults.inject("rest:companies", "repeat", times=None, count=1000)  # 10 pages of 100
    before = sb.state.counters.calls.get("rest:companies", 0)
    try:
        with NmbrsRestClient(*connected) as client, pytest.raises(RestError) as raised:
            client.companies()
    finally:
        sb.state.faults.clear()
    assert "the listing goes on past 3 pages of 100; refused, not retried" in str(raised.value)
    assert raised.value.retryable is False
    assert sb.state.counters.calls["rest:companies"] - before == 3
