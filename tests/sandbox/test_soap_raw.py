"""Each of the seven SOAP operations, sent as a hand-written envelope over plain HTTP (SOAP 1.1 and 1.2)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from tests.support.soap import amounts, call, q, report_content

VERSIONS = ["1.1", "1.2"]


@pytest.mark.parametrize("version", VERSIONS)
def test_environment_get_returns_domain_and_subdomain(sandbox, version):
    result = call(sandbox.url, version, "DebtorService", "Environment_Get")
    assert result.findtext(q("DebtorService", "Domain")) == "payrolldemo"
    assert result.findtext(q("DebtorService", "SubDomain"))


@pytest.mark.parametrize("version", VERSIONS)
def test_list_get_all_returns_the_three_demo_companies(sandbox, version):
    result = call(sandbox.url, version, "CompanyService", "List_GetAll")
    companies = result.findall(q("CompanyService", "Company"))
    by_id = {int(c.findtext(q("CompanyService", "ID"))): c for c in companies}
    assert set(by_id) == {101, 102, 103}
    assert by_id[103].findtext(q("CompanyService", "Name")) == "Studio O'Brien; Design"
    assert by_id[102].findtext(q("CompanyService", "Name")) == "Fietsenmakerij Jansen & Zn."
    assert by_id[102].findtext(q("CompanyService", "LoonaangifteTijdvak")) == "Week4"
    for element in ("Number", "PhoneNumber", "FaxNumber", "Email", "Website", "KvkNr"):
        assert by_id[101].find(q("CompanyService", element)) is not None, element


@pytest.mark.parametrize("version", VERSIONS)
def test_run_get_list_shows_the_correction_run_after_period_5(sandbox, version):
    year = sandbox.state.config.first_year
    result = call(sandbox.url, version, "CompanyService", "Run_GetList", {"CompanyId": 101, "Year": year})
    runs = result.findall(q("CompanyService", "RunInfo"))
    assert len(runs) == 13  # 12 months + the correction
    sixth = runs[5]
    assert sixth.findtext(q("CompanyService", "Number")) == "6"
    assert sixth.findtext(q("CompanyService", "PeriodStart")) == "3"
    assert sixth.findtext(q("CompanyService", "PeriodEnd")) == "3"
    assert sixth.findtext(q("CompanyService", "Year")) == str(year)
    assert sixth.findtext(q("CompanyService", "IsLocked")) in ("true", "false")
    run_at = sixth.findtext(q("CompanyService", "RunAt"))
    assert time.strptime(run_at, "%Y-%m-%dT%H:%M:%S")
    assert sixth.findtext(q("CompanyService", "Description")).startswith("Correctie")
    assert int(sixth.findtext(q("CompanyService", "ID"))) > 0


@pytest.mark.parametrize("version", VERSIONS)
def test_personal_info_lists_every_employee_with_v2_records(sandbox, version):
    result = call(
        sandbox.url,
        version,
        "EmployeeService",
        "PersonalInfo_GetAll_AllEmployeesByCompany",
        {"CompanyID": 101},
    )
    items = result.findall(q("EmployeeService", "PersonalInfoItem"))
    assert len(items) == len(sandbox.state.world.employees(101))
    info = items[0].find(q("EmployeeService", "EmployeePersonalInfos", "PersonalInfo_V2"))
    for element in (
        "Id",
        "EmployeeNumber",
        "DisplayName",
        "FirstName",
        "Initials",
        "Prefix",
        "LastName",
        "BSN",
        "Gender",
        "Birthday",
        "EmailWork",
        "StartPeriod",
        "StartYear",
        "CreationDate",
    ):
        assert info.find(q("EmployeeService", element)) is not None, element
    assert items[0].findtext(q("EmployeeService", "EmployeeId")) == "101001"


def _poll(sandbox, version, task_id, timeout=10.0):
    statuses = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = call(
            sandbox.url, version, "ReportService", "Reports_BackgroundTask_Result", {"TaskId": task_id}
        )
        assert result.findtext(q("ReportService", "TaskId")) == task_id
        statuses.append(result.findtext(q("ReportService", "Status")))
        if statuses[-1] not in ("Enqueued", "Executing"):
            return statuses, result.findtext(q("ReportService", "Content"))
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} never finished: {statuses}")


@pytest.mark.parametrize("version", VERSIONS)
def test_wage_components_report_runs_as_a_background_task(sandbox, version):
    year = sandbox.state.config.first_year
    task = call(
        sandbox.url,
        version,
        "ReportService",
        "Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background",
        {"companyId": 101, "year": year},
    )
    statuses, content = _poll(sandbox, version, task.text)
    assert statuses[0] == "Enqueued" and statuses[-1] == "Success"
    root = report_content(content)
    assert root.findtext("CompanyID") == "101" and root.findtext("PeriodType") == "Month"
    employees = root.findall("EmployeesList/Employees")
    assert {int(e.findtext("EmployeeID")) for e in employees} == {
        e.id for e in sandbox.state.world.employees(101)
    }
    assert {int(p) for p in root.xpath("//Value/Period/text()")} == set(range(1, 13))
    total = sum(Decimal(v) for v in amounts(root, "ComponentValue"))
    assert total == sandbox.state.truth.total("wage_components", 101, year)
    assert "-" in root.xpath("//Value/ComponentValue/text()"), (
        "a period the employee was not paid has no value"
    )
    corrected = root.xpath(
        "//Employees[1]/WageComponentsList/WageComponents[1]/Values/Value[Period=3]/Run/text()"
    )
    assert corrected == [str(sandbox.state.world.runs(101, year)[5].number)], (
        "the correction run set period 3"
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_payslip_report_of_the_correction_run_carries_deltas(sandbox, version):
    year = sandbox.state.config.first_year
    correction = sandbox.state.world.runs(101, year)[5]
    task = call(
        sandbox.url,
        version,
        "ReportService",
        "Reports_GetPayslipByRunCompany_v2_Background",
        {"companyId": 101, "runId": correction.id, "year": year},
    )
    _, content = _poll(sandbox, version, task.text)
    slips = report_content(content).findall("payslip")
    assert len(slips) == 1
    assert slips[0].findtext("run") == str(correction.number)
    assert slips[0].findtext("period") == "3"
    lines = {line.findtext("code"): Decimal(line.findtext("value")) for line in slips[0].iter("line")}
    assert lines["1000"] == Decimal("150.00")
    assert lines["1100"] == Decimal("12.00")
