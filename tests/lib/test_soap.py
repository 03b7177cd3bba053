"""The SOAP client against the sandbox: every call, domain discovery, faults, tasks, streaming."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest

from pipelines.lib.nmbrs.errors import FAULTS, NmbrsFault, NmbrsTransportError, ReportTaskError, ReportTimeout
from pipelines.lib.nmbrs.soap import REQUIRED_OPERATIONS, RESULT_OPERATION
from tests.support.nmbrs import fast_soap, settings_for


def previous_year(sb) -> int:
    return min(sb.state.world.years(101))


def test_every_call_returns_typed_records_matching_the_sandbox(sb):
    year = previous_year(sb)
    with fast_soap(settings_for(sb)) as client:
        companies = client.companies()
        assert [c.company_id for c in companies] == [101, 102, 103]
        assert companies[2].name == "Studio O'Brien; Design" and companies[1].period_type == "Week4"
        runs = client.runs(101, year)
        assert len(runs) == sb.state.truth.rows("payroll_runs", 101, year)
        assert all(r.run_id and r.period_start for r in runs)
        employees = client.employees(101)
        assert len(employees) == sb.state.truth.rows("employees", 101)
        employee, personal = employees[0]
        assert employee.last_name and personal.bsn
        assert personal.bsn not in repr(personal) and personal.bsn not in repr(employee)

        wage_task = client.start_wage_component_report(101, year)
        payslip_task = client.start_payslip_report(101, runs[0].run_id, year)
        assert client.wait_for_reports([wage_task, payslip_task]) == {
            wage_task: "Success",
            payslip_task: "Success",
        }
        lines = list(client.report_lines(wage_task, kind="period", year=year))
        assert len(lines) == sb.state.truth.rows("wage_components", 101, year)
        assert sum(ln.value for ln in lines) == sb.state.truth.total("wage_components", 101, year)
        payslip = list(client.report_lines(payslip_task, kind="payslip", run_id=runs[0].run_id))
        assert {ln.run_id for ln in payslip} == {runs[0].run_id}
        assert sum(ln.value for ln in payslip) == sb.state.truth.total(
            "payslips", 101, year, run_number=runs[0].run_number
        )
        assert client.calls >= 8


def test_domain_is_discovered_when_unset(sb):
    with fast_soap(settings_for(sb, NMBRS_DOMAIN=None)) as client:
        assert client.domain == "payrolldemo"
        assert [c.company_id for c in client.companies()] == [101, 102, 103]


@pytest.mark.parametrize("code", sorted(FAULTS))
def test_every_fault_code_becomes_the_documented_error(sb, code):
    sb.state.faults.inject("soap:CompanyService.List_GetAll", "fault", times=None, code=code)
    with fast_soap(settings_for(sb)) as client:
        with pytest.raises(NmbrsFault) as err:
            client.companies()
    fault = err.value
    info = FAULTS[code]
    assert fault.code == code and fault.operation == "CompanyService.List_GetAll"
    assert fault.retryable is info.retryable
    message = str(fault)
    assert "CompanyService.List_GetAll" in message and f"fault {code}" in message
    assert info.fix.format(operation="CompanyService.List_GetAll") in message
    assert client.calls == (client.max_attempts if info.retryable else 1)


def test_a_retryable_fault_recovers(sb):
    sb.state.faults.inject("soap:CompanyService.List_GetAll", "fault", times=1, code=1006)
    with fast_soap(settings_for(sb)) as client:
        assert len(client.companies()) == 3
        assert client.retries == 1


@pytest.mark.parametrize("operation", REQUIRED_OPERATIONS)
def test_missing_permission_names_the_operation(sb, operation):
    token = sb.state.add_token(set(REQUIRED_OPERATIONS) - {operation})
    with fast_soap(settings_for(sb, NMBRS_TOKEN=token)) as client:
        probes = client.probe_permissions(previous_year(sb))
    assert [name for name, status in probes.items() if status != "ok"] == [operation]
    assert f"allow {operation} in Nmbrs under API user templates" in probes[operation]
    assert token not in probes[operation]


def test_wrong_token_is_fault_1001_naming_the_settings(sb):
    with fast_soap(settings_for(sb, NMBRS_TOKEN="wrong-token")) as client:
        with pytest.raises(NmbrsFault, match="NMBRS_USERNAME.*NMBRS_TOKEN") as err:
            client.companies()
    assert err.value.code == 1001 and "wrong-token" not in str(err.value)


@pytest.mark.parametrize("kind", ["500", "503", "reset", "truncate", "slow"])
def test_transport_faults_are_retried(sb, kind):
    sb.state.faults.inject("soap:CompanyService.List_GetAll", kind, times=1, seconds=3)
    with fast_soap(settings_for(sb, NMBRS_TIMEOUT_SECONDS="1")) as client:
        assert len(client.companies()) == 3
        assert client.retries == 1


def test_transport_faults_that_persist_fail_clearly(sb):
    sb.state.faults.inject("soap:CompanyService.List_GetAll", "503", times=None)
    with fast_soap(settings_for(sb)) as client:
        with pytest.raises(NmbrsTransportError, match="CompanyService.List_GetAll: Nmbrs answered HTTP 503"):
            client.companies()


def test_task_executing_past_the_deadline_is_report_timeout(sb):
    sb.state.faults.inject("soap:ReportService.Reports_Accountant_*", "task_slow", times=1, seconds=30)
    with fast_soap(settings_for(sb)) as client:
        task = client.start_wage_component_report(101, previous_year(sb))
        with pytest.raises(ReportTimeout, match=task):
            client.wait_for_reports([task], deadline_seconds=0.6)


@pytest.mark.parametrize(("kind", "status"), [("task_error", "Error"), ("task_unknown", "Unknown")])
def test_task_error_and_unknown_are_report_task_errors(sb, kind, status):
    year = previous_year(sb)
    sb.state.faults.inject("soap:ReportService.Reports_Accountant_*", kind, times=1)
    with fast_soap(settings_for(sb)) as client:
        failing = client.start_wage_component_report(101, year)
        fine = client.start_wage_component_report(102, year)
        assert client.wait_for_reports([failing, fine], raise_errors=False) == {
            failing: status,
            fine: "Success",
        }
        with pytest.raises(ReportTaskError, match=f"{failing} ended with status {status}"):
            client.wait_for_reports([failing, fine])
        with pytest.raises(ReportTaskError):
            list(client.report_lines(failing, kind="period", year=year))


def test_report_tasks_run_concurrently_while_polled_round_robin(sb):
    year = previous_year(sb)
    sb.state.faults.inject("soap:ReportService.Reports_Accountant_*", "task_slow", times=3, seconds=1.5)
    with fast_soap(settings_for(sb)) as client:
        tasks = [client.start_wage_component_report(company, year) for company in (101, 102, 103)]
        started = time.monotonic()
        assert set(client.wait_for_reports(tasks).values()) == {"Success"}
        elapsed = time.monotonic() - started
        polls = client.calls - 3
    assert elapsed < 3.0, f"three 1.5 s tasks took {elapsed:.1f} s: they were not waited for together"
    assert polls <= 3 * 8, f"{polls} status polls for three tasks: the backoff does not work"


def test_a_broken_download_is_fetched_again_by_load_report(sb):
    year = previous_year(sb)
    with fast_soap(settings_for(sb)) as client:
        task = client.start_wage_component_report(101, year)
        client.wait_for_reports([task])
        sb.state.faults.inject(f"soap:{RESULT_OPERATION}", "truncate", times=1)
        attempts = []

        def load(lines):
            attempts.append(1)
            return sum(line.value for line in lines)

        total, drift = client.load_report(task, load, kind="period", year=year)
    assert total == sb.state.truth.total("wage_components", 101, year)
    assert len(attempts) == 2 and not drift


def test_debug_logs_never_show_the_token(sb, caplog):
    token = sb.state.add_token(set(REQUIRED_OPERATIONS))
    caplog.set_level(logging.DEBUG)
    logging.getLogger("zeep").setLevel(logging.DEBUG)
    with fast_soap(settings_for(sb, NMBRS_TOKEN=token)) as client:
        client.companies()
        task = client.start_wage_component_report(103, previous_year(sb))
        client.wait_for_reports([task])
        list(client.report_lines(task, kind="period", year=previous_year(sb)))
        client.employees(103)
    assert caplog.records, "DEBUG logging captured nothing"
    text = caplog.text
    assert token not in text
    bsns = [p.bsn for _, p in client.employees(103)]
    assert not any(bsn in text for bsn in bsns)


BIG_RESULT = """
import html, resource, sys
from pipelines.lib.nmbrs.soap import ReportStream
from pipelines.lib.nmbrs.reports import iter_report_lines
employees = int(sys.argv[1])
class FakeResponse:
    url = "http://sandbox/ReportService.asmx"
    def iter_content(self, size):
        yield (b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
               b'<soap:Body><Reports_BackgroundTask_ResultResponse xmlns="https://api.nmbrs.nl/soap/v3/ReportService">'
               b'<Reports_BackgroundTask_ResultResult><TaskId>t</TaskId><Status>Success</Status><Content>')
        yield html.escape('\ufeff<?xml version="1.0" encoding="utf-16"?><Report><CompanyID>1</CompanyID><EmployeesList>').encode()
        body = "".join(
            f"<WageComponents><ComponentNumber>{c}</ComponentNumber><ComponentName>Salaris &amp; co</ComponentName>"
            f"<Values><Value><ComponentValue>{c},50</ComponentValue><Period>1</Period><Run>1</Run></Value></Values></WageComponents>"
            for c in range(10)
        )
        for emp in range(employees):
            yield html.escape(f"<Employees><EmployeeID>{emp}</EmployeeID><WageComponentsList>{body}</WageComponentsList></Employees>").encode()
        yield html.escape("</EmployeesList></Report>").encode()
        yield b"</Content></Reports_BackgroundTask_ResultResult></Reports_BackgroundTask_ResultResponse></soap:Body></soap:Envelope>"
    def close(self):
        pass
stream = ReportStream(FakeResponse(), "t")
assert stream.read_status() == "Success"
count = sum(1 for _ in iter_report_lines(stream, kind="period", year=2024, encoding="utf-8"))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, count)
"""


def test_a_200_mb_report_result_streams_in_bounded_memory():
    def run(reports: int) -> tuple[int, int]:
        out = subprocess.run(
            [sys.executable, "-c", BIG_RESULT, str(reports)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout.split()
        return int(out[0]), int(out[1])

    small_kb, small_lines = run(1_000)
    big_kb, big_lines = run(60_000)  # ~200 MB of escaped Content, declared utf-16 after a byte-order mark
    assert (small_lines, big_lines) == (10_000, 600_000)
    assert big_kb <= small_kb * 1.5, f"peak RSS {small_kb} kB for 10k lines, {big_kb} kB for 600k lines"
