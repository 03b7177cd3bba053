"""A zeep client built from the bundled WSDL files calls all seven operations against the sandbox."""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from lxml import etree
from zeep import Client, Settings
from zeep.transports import Transport

from pipelines.sandbox import contract
from tests.support.soap import amounts, report_content

WSDL_DIR = Path(__file__).resolve().parents[2] / "pipelines" / "lib" / "nmbrs" / "wsdl"


def service(sandbox, name: str, soap12: bool = False):
    logging.getLogger("zeep.transports").setLevel(logging.INFO)
    settings = Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    client = Client(
        str(WSDL_DIR / f"{name}.wsdl"),
        settings=settings,
        transport=Transport(timeout=10, operation_timeout=10),
    )
    ns = contract.namespace(name)
    binding = f"{{{ns}}}{name}Soap12" if soap12 else f"{{{ns}}}{name}Soap"
    proxy = client.create_service(binding, f"{sandbox.url}/soap/v3/{name}.asmx")
    header_name = "AuthHeader" if name == "DebtorService" else "AuthHeaderWithDomain"
    fields = {"Username": contract.USERNAME, "Token": contract.TOKEN}
    if header_name == "AuthHeaderWithDomain":
        fields["Domain"] = contract.DOMAIN
    header = client.get_element(f"{{{ns}}}{header_name}")(**fields)
    return proxy, header


def test_wsdl_addresses_are_production_and_namespaces_qualified():
    for name in contract.SERVICES:
        tree = etree.parse(str(WSDL_DIR / f"{name}.wsdl"))
        assert tree.getroot().get("targetNamespace") == contract.namespace(name)
        schema = tree.find(".//{http://www.w3.org/2001/XMLSchema}schema")
        assert schema.get("elementFormDefault") == "qualified"
        locations = tree.xpath("//*[local-name()='address']/@location")
        assert locations and all(loc == f"{contract.PRODUCTION_SOAP_URL}{name}.asmx" for loc in locations)
        actions = set(tree.xpath("//*[local-name()='operation']/@soapAction"))
        assert actions == {contract.soap_action(name, op) for op in contract.SERVICES[name]}


@pytest.mark.parametrize("name", sorted(contract.SERVICES))
def test_the_sandbox_serves_the_bundled_wsdl(sandbox, name):
    response = requests.get(f"{sandbox.url}/soap/v3/{name}.asmx?WSDL", timeout=10)
    assert response.status_code == 200
    assert response.content == (WSDL_DIR / f"{name}.wsdl").read_bytes()


@pytest.mark.parametrize("soap12", [False, True], ids=["soap11", "soap12"])
def test_zeep_calls_all_seven_operations(sandbox, soap12):
    year = sandbox.state.config.first_year
    debtor, auth = service(sandbox, "DebtorService", soap12)
    assert debtor.Environment_Get(_soapheaders=[auth]).Domain == contract.DOMAIN

    company, auth = service(sandbox, "CompanyService", soap12)
    companies = company.List_GetAll(_soapheaders=[auth])
    assert {c.ID for c in companies} == {101, 102, 103}
    runs = company.Run_GetList(CompanyId=102, Year=year, _soapheaders=[auth])
    assert [r.PeriodStart for r in runs] == list(range(1, 14))
    assert runs[0].RunAt.year == year and isinstance(runs[0].IsLocked, bool)

    employee, auth = service(sandbox, "EmployeeService", soap12)
    items = employee.PersonalInfo_GetAll_AllEmployeesByCompany(CompanyID=103, _soapheaders=[auth])
    assert [i.EmployeeId for i in items] == [e.id for e in sandbox.state.world.employees(103)]
    assert items[0].EmployeePersonalInfos.PersonalInfo_V2[0].Birthday is not None

    report, auth = service(sandbox, "ReportService", soap12)
    period_task = report.Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background(
        companyId=102, year=year, _soapheaders=[auth]
    )
    payslip_task = report.Reports_GetPayslipByRunCompany_v2_Background(
        companyId=102, runId=runs[0].ID, year=year, _soapheaders=[auth]
    )
    contents = {}
    deadline = time.monotonic() + 10
    while len(contents) < 2 and time.monotonic() < deadline:
        for task in (period_task, payslip_task):
            result = report.Reports_BackgroundTask_Result(TaskId=task, _soapheaders=[auth])
            assert result.TaskId == task
            if result.Status == "Success":
                contents[task] = result.Content
        time.sleep(0.05)
    period_total = sum(Decimal(v) for v in amounts(report_content(contents[period_task]), "ComponentValue"))
    assert period_total == sandbox.state.truth.total("wage_components", 102, year)
    payslip = report_content(contents[payslip_task])
    assert {p.findtext("run") for p in payslip.findall("payslip")} == {str(runs[0].Number)}
