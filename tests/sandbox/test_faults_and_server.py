"""Injected faults, throttling, counters, the faults scenario, clean shutdown, admin API and CLI."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests

from pipelines.sandbox import contract
from tests.support.soap import amounts, call, envelope, post_soap, q, report_content


def list_companies(sb, timeout=10):
    body = envelope("1.1", "CompanyService", "List_GetAll")
    return requests.post(
        f"{sb.url}/soap/v3/CompanyService.asmx",
        data=body,
        timeout=timeout,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": contract.soap_action("CompanyService", "List_GetAll"),
        },
    )


def rest_get(sb, path, access, **params):
    return requests.get(
        f"{sb.url}{path}",
        params=params,
        timeout=10,
        headers={"Authorization": f"Bearer {access}", "X-Subscription-Key": contract.SUBSCRIPTION_KEY},
    )


@pytest.mark.parametrize("kind,status", [("500", 500), ("503", 503)])
def test_transient_server_errors_fire_the_given_number_of_times(start_sandbox, kind, status):
    sb = start_sandbox()
    sb.state.faults.inject("soap:CompanyService.*", kind=kind, times=2)
    assert [list_companies(sb).status_code for _ in range(3)] == [status, status, 200]


def test_429_carries_retry_after(start_sandbox):
    sb = start_sandbox()
    access = sb.state.identity.grant_offline_access()["access_token"]
    sb.state.faults.inject("rest:companies", kind="429", retry_after=3)
    limited = rest_get(sb, "/api/companies", access)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert {k: limited.json()[k] for k in ("type", "httpStatus", "code")} == {
        "type": "throttlingError",
        "httpStatus": 429,
        "code": 42908,
    }
    assert rest_get(sb, "/api/companies", access).status_code == 200


def test_truncated_response_and_connection_reset(start_sandbox):
    sb = start_sandbox()
    sb.state.faults.inject("soap:CompanyService.List_GetAll", kind="truncate")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        list_companies(sb)
    sb.state.faults.inject("soap:CompanyService.List_GetAll", kind="reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        list_companies(sb)
    assert list_companies(sb).status_code == 200


def test_slow_response_exceeds_a_client_timeout(start_sandbox):
    sb = start_sandbox()
    sb.state.faults.inject("soap:CompanyService.List_GetAll", kind="slow", seconds=1.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        list_companies(sb, timeout=0.5)
    assert list_companies(sb, timeout=5).status_code == 200


def test_401_in_the_middle_of_pagination(start_sandbox):
    sb = start_sandbox()
    access = sb.state.identity.grant_offline_access()["access_token"]
    sb.state.faults.inject("rest:employees", kind="401", after=1)
    path = f"/api/companies/{sb.state.rest_ids.company(sb.state.world.company(101))}/employees"
    assert rest_get(sb, path, access, pageSize=3, pageNumber=1).status_code == 200
    second = rest_get(sb, path, access, pageSize=3, pageNumber=2)
    assert second.status_code == 401 and second.json()["code"] == 40102
    assert rest_get(sb, path, access, pageSize=3, pageNumber=2).status_code == 200


def test_throttle_answers_429_to_the_given_fraction(start_sandbox):
    sb = start_sandbox(throttle=0.25)
    statuses = [list_companies(sb).status_code for _ in range(20)]
    assert statuses.count(429) == 5 and statuses.count(200) == 15


def test_counters_count_calls_and_peak_concurrency(start_sandbox):
    sb = start_sandbox()
    sb.state.faults.inject("soap:CompanyService.List_GetAll", kind="slow", times=None, seconds=0.4)
    with ThreadPoolExecutor(4) as pool:
        assert {r.status_code for r in pool.map(lambda _: list_companies(sb), range(4))} == {200}
    counts = requests.get(f"{sb.url}/_admin/counters", timeout=10).json()
    assert counts["calls"]["soap:CompanyService.List_GetAll"] == 4
    assert counts["max_in_flight"] == 4 and counts["max_in_flight_by_family"]["soap"] == 4
    requests.post(f"{sb.url}/_admin/reset-counters", timeout=10)
    assert sb.state.counters.max_in_flight == 0 and sb.state.counters.total() == 0


def test_faults_scenario_uses_comma_decimals_and_slow_tasks(start_sandbox):
    sb = start_sandbox("faults", preset_faults=False, task_seconds=0.6)
    year = sb.state.config.first_year
    task = call(
        sb.url,
        "1.1",
        "ReportService",
        "Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background",
        {"companyId": 103, "year": year},
    ).text
    result = call(sb.url, "1.1", "ReportService", "Reports_BackgroundTask_Result", {"TaskId": task})
    assert result.findtext(q("ReportService", "Status")) == "Enqueued"
    time.sleep(0.7)
    result = call(sb.url, "1.1", "ReportService", "Reports_BackgroundTask_Result", {"TaskId": task})
    values = amounts(report_content(result.findtext(q("ReportService", "Content"))), "ComponentValue")
    assert values and all("," in v and "." not in v for v in values)
    assert sum(Decimal(v.replace(",", ".")) for v in values) == sb.state.truth.total(
        "wage_components", 103, year
    )


def test_faults_scenario_presets_fail_once_then_succeed(start_sandbox):
    sb = start_sandbox("faults")
    assert list_companies(sb).status_code == 503
    assert list_companies(sb).status_code == 200


def _period_without_run(sb, company_id: int, year: int) -> tuple[int, int]:
    """A (year, period) that has no run, taken from the sandbox's own state (never from the calendar)."""
    run_periods = {run.period_start for run in sb.state.world.runs(company_id, year)}
    free = [period for period in range(1, 13) if period not in run_periods]
    return (year, free[0]) if free else (year + 1, 1)


# The sandbox's "today" decides which periods have been run, so the admin tests run on pinned dates:
# the start of December (period 12 is the one added), January (no run yet this year) and today.
@pytest.mark.parametrize(
    "as_of",
    [dt.date(2026, 12, 1), dt.date(2027, 1, 15), dt.date(2026, 6, 30), None],
    ids=["december", "january", "june", "today"],
)
def test_admin_endpoints_change_data_only_when_asked(start_sandbox, as_of):
    sb = start_sandbox(**({"as_of": as_of} if as_of else {}))
    year = sb.state.config.as_of.year
    before = len(sb.state.world.runs(101, year))
    added = requests.post(f"{sb.url}/_admin/runs", json={"company_id": 101}, timeout=10)
    assert added.status_code == 201 and added.json()["period_start"] == before + 1
    corrected = requests.post(
        f"{sb.url}/_admin/corrections",
        json={"company_id": 101, "year": year, "period": before + 1, "delta": "10.00"},
        timeout=10,
    )
    assert corrected.status_code == 201 and corrected.json()["type"] == "correction"
    assert (
        len(call(sb.url, "1.1", "CompanyService", "Run_GetList", {"CompanyId": 101, "Year": year}))
        == before + 2
    )
    free_year, free_period = _period_without_run(sb, 101, year)
    refused = requests.post(
        f"{sb.url}/_admin/corrections",
        json={"company_id": 101, "year": free_year, "period": free_period},
        timeout=10,
    )
    assert refused.status_code == 409 and "has no run" in refused.json()["detail"]
    token = requests.post(
        f"{sb.url}/_admin/tokens", json={"permissions": ["List_GetAll"]}, timeout=10
    ).json()["token"]
    assert sb.state.soap_token(token).permissions == {"CompanyService.List_GetAll"}
    truth = requests.get(
        f"{sb.url}/_admin/truth", params={"company_id": 101, "year": year}, timeout=10
    ).json()
    assert truth["tables"]["payroll_runs"]["rows"] == before + 2
    assert (
        requests.post(
            f"{sb.url}/_admin/faults", json={"target": "soap:*", "kind": "nope"}, timeout=10
        ).status_code
        == 400
    )


def test_stop_closes_the_port_even_with_open_keepalive_connections(start_sandbox):
    sb = start_sandbox()
    session = requests.Session()
    assert session.get(f"{sb.url}/.well-known/openid-configuration", timeout=10).status_code == 200
    started = time.monotonic()
    sb.stop()
    assert time.monotonic() - started < 3
    with socket.socket() as probe:
        assert probe.connect_ex((sb.host, sb.port)) != 0
    session.close()


def test_env_vars_point_at_the_sandbox(sandbox):
    env = sandbox.env_vars()
    assert env["NMBRS_SOAP_URL"] == f"{sandbox.url}/soap/v3/"
    assert env["NMBRS_REST_URL"] == env["NMBRS_IDENTITY_URL"] == sandbox.url
    assert env["NMBRS_TOKEN"] == contract.TOKEN and env["NMBRS_DOMAIN"] == contract.DOMAIN


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_serves_and_adds_runs(tmp_path):
    port = _free_port()
    payroll = os.path.join(os.path.dirname(sys.executable), "payroll")
    server = subprocess.Popen(
        [payroll, "sandbox", "--port", str(port), "--erp-dir", str(tmp_path / "erp")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{url}/_admin/counters", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        out = subprocess.run(
            [payroll, "sandbox", "add-run", "--url", url, "--company", "103"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert '"company_id": 103' in out and '"type": "regular"' in out
        token = subprocess.run(
            [payroll, "sandbox", "add-token", "--url", url, "--allow", "List_GetAll"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        body = envelope("1.1", "CompanyService", "Run_GetList", {"CompanyId": 101, "Year": 2025}, token=token)
        assert "1002" in post_soap(url, "1.1", "CompanyService", "Run_GetList", body).text
        assert (tmp_path / "erp" / "gl_movements.csv").exists()
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=15)[0]
    assert server.returncode == 0, output
    assert "sandbox stopped" in output


def test_scale_scenario_serves_200_companies_quickly(start_sandbox):
    started = time.monotonic()
    sb = start_sandbox("scale", seed=3)
    companies = call(sb.url, "1.1", "CompanyService", "List_GetAll")
    assert len(companies) == 200
    year = sb.state.config.first_year
    task = call(
        sb.url,
        "1.1",
        "ReportService",
        "Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background",
        {"companyId": 250, "year": year},
    ).text
    assert sb.state.tasks.get(task) is not None
    assert time.monotonic() - started < 10
    assert len(sb.state.world._employees) == 1  # nothing generated for the other 199 companies
