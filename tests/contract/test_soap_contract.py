"""The SOAP contract: the sandbox and the SOAP client against the real shapes of Nmbrs's SOAP API v3.

The oracle is the pair of XSDs in this folder, transcribed from the real ASMX WSDLs (Company and
RunInfo of CompanyService, the 36-child PersonalInfo_V2 of EmployeeService; docs/nmbrs-api-soap.md).
- The bundled WSDLs declare exactly these types, and every sandbox answer validates against them.
- An element no WSDL of ours knows, anywhere in an answer, is skipped; the rest is read as before.
- The current personal info is the version with the latest CreationDate, wherever it is in the list.
- Every zeep error reaches the caller as one of the product's errors, naming the operation and the fix.
- Report content declares utf-16, with and without a byte-order mark, and is read as the text it is;
  the accountant and payslip reports come in their real shapes, with `-` or empty for "no value".
- A report that yields no lines for a company-year with runs fails loudly and keeps the loaded rows.
"""

from __future__ import annotations

import datetime as dt
import inspect
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
import zeep
import zeep.exceptions
from lxml import etree

from pipelines.lib import warehouse
from pipelines.lib.nmbrs import soap
from pipelines.lib.nmbrs.errors import NmbrsError, NmbrsTransportError, ReportContentError
from pipelines.sandbox import contract, reports
from tests.support.nmbrs import fast_soap, settings_for
from tests.support.soap import call, report_content

HERE = Path(__file__).resolve().parent
XS = "{http://www.w3.org/2001/XMLSchema}"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
VERSIONS = ("1.1", "1.2")
# The contract's list (docs/nmbrs-api-soap.md): PersonalInfo_V2's 36 children, in this order.
PERSONAL_INFO_V2 = (
    "Id DisplayName EmployeeNumber BSN Title FirstName Initials Prefix LastName Nickname Gender "
    "NationalityCode PlaceOfBirth CountryOfBirthISOCode IdentificationNumber IdentificationType "
    "PartnerPrefix PartnerLastName TelephonePrivate TelephoneWork TelephoneMobilePrivate "
    "TelephoneMobileWork TelephoneOther EmailPrivate EmailWork BurgerlijkeStaat Naamstelling Birthday "
    "CreationDate StartPeriod StartYear DeceasedDate InCaseOfEmergency InCaseOfEmergencyPhone "
    "InCaseOfEmergencyRelation TitleAfter"
).split()
ORACLES = {"CompanyService": HERE / "company_service.xsd", "EmployeeService": HERE / "employee_service.xsd"}
TYPES = {"CompanyService": ("Company", "RunInfo"), "EmployeeService": ("PersonalInfoItem", "PersonalInfo_V2")}
ENUMS = {"CompanyService": "LoonaangifteTijdvak", "EmployeeService": "Gender"}


def years(sb) -> list[int]:
    return sb.state.world.years(101)


def _schema_of(path: Path) -> etree._Element:
    root = etree.parse(str(path)).getroot()
    return root if root.tag == f"{XS}schema" else root.find(f".//{XS}schema")


def _declared(schema: etree._Element, type_name: str) -> list[tuple[str, ...]]:
    """(name, type, minOccurs, maxOccurs, nillable) of each child of a complex type, in order."""
    complex_type = schema.find(f"{XS}complexType[@name='{type_name}']")
    assert complex_type is not None, f"no complexType {type_name}"
    return [
        (
            e.get("name"),
            e.get("type").split(":")[-1],
            e.get("minOccurs"),
            e.get("maxOccurs"),
            e.get("nillable", "false"),
        )
        for e in complex_type.iter(f"{XS}element")
    ]


def _enumeration(schema: etree._Element, type_name: str) -> list[str]:
    return [
        e.get("value") for e in schema.find(f"{XS}simpleType[@name='{type_name}']").iter(f"{XS}enumeration")
    ]


@pytest.mark.parametrize("service", sorted(ORACLES))
def test_the_bundled_wsdl_declares_the_real_types(service):
    bundled = _schema_of(soap.WSDL_DIR / f"{service}.wsdl")
    oracle = _schema_of(ORACLES[service])
    for type_name in TYPES[service]:
        assert _declared(bundled, type_name) == _declared(oracle, type_name), type_name
    assert _enumeration(bundled, ENUMS[service]) == _enumeration(oracle, ENUMS[service])
    if service == "EmployeeService":
        assert [name for name, *_ in _declared(oracle, "PersonalInfo_V2")] == PERSONAL_INFO_V2


def _response(
    sb, version: str, service: str, operation: str, arguments: dict | None = None
) -> etree._Element:
    """The operation's Response element as a document of its own."""
    return etree.fromstring(etree.tostring(call(sb.url, version, service, operation, arguments).getparent()))


def _answers(sb, version: str) -> list[tuple[str, etree._Element]]:
    answers = [("CompanyService", _response(sb, version, "CompanyService", "List_GetAll"))]
    for company in sb.state.world.companies():
        answers.append(
            (
                "EmployeeService",
                _response(
                    sb,
                    version,
                    "EmployeeService",
                    "PersonalInfo_GetAll_AllEmployeesByCompany",
                    {"CompanyID": company.id},
                ),
            )
        )
        for year in sb.state.world.years(company.id):
            answers.append(
                (
                    "CompanyService",
                    _response(
                        sb, version, "CompanyService", "Run_GetList", {"CompanyId": company.id, "Year": year}
                    ),
                )
            )
    return answers


@pytest.mark.parametrize("version", VERSIONS)
def test_every_sandbox_answer_validates_against_the_real_types(sb, version):
    schemas = {service: etree.XMLSchema(etree.parse(str(path))) for service, path in ORACLES.items()}
    answers = _answers(sb, version)
    for service, answer in answers:
        schemas[service].assertValid(answer)
    infos = [
        info
        for service, answer in answers
        for info in answer.iter(f"{{{contract.namespace(service)}}}PersonalInfo_V2")
    ]
    assert infos, "the answers hold personal info"
    assert all(info.find("{*}CreationDate").get(XSI_NIL) is None for info in infos), "every version is dated"


def test_answers_with_unknown_elements_fall_outside_the_types_and_still_read_the_same(sb):
    year = years(sb)[0]
    with fast_soap(settings_for(sb)) as client:
        expected = (client.environment(), client.companies(), client.runs(101, year), client.employees(102))
        sb.state.faults.inject("soap:*", "extra_elements", times=None)
        schema = etree.XMLSchema(etree.parse(str(ORACLES["EmployeeService"])))
        answer = _response(
            sb, "1.1", "EmployeeService", "PersonalInfo_GetAll_AllEmployeesByCompany", {"CompanyID": 102}
        )
        assert not schema.validate(answer), "the fault does put elements the real types do not declare"
        assert answer.find(".//{*}PersonalInfo_V2/{*}AddedByNmbrs").getprevious().tag.endswith("}Id")
        got = (client.environment(), client.companies(), client.runs(101, year), client.employees(102))
    assert got == expected
    assert client.retries == 0


def test_the_current_personal_info_is_the_one_with_the_latest_creation_date(sb):
    world = sb.state.world
    answer = call(
        sb.url, "1.1", "EmployeeService", "PersonalInfo_GetAll_AllEmployeesByCompany", {"CompanyID": 101}
    )
    histories = {
        int(item.findtext("{*}EmployeeId")): [
            (info.findtext("{*}LastName"), info.findtext("{*}CreationDate"))
            for info in item.find("{*}EmployeePersonalInfos")
        ]
        for item in answer
    }
    unordered = [
        e for e, versions in histories.items() if len(versions) > 1 and versions[0][1] > versions[-1][1]
    ]
    assert unordered, "the sandbox lists an older version after the current one"
    with fast_soap(settings_for(sb)) as client:
        employees = {employee.employee_id: employee for employee, _ in client.employees(101)}
    for e in world.employees(101):
        assert employees[e.id].last_name == e.last_name, f"employee {e.id} got an earlier version"
        assert employees[e.id].creation_date == e.created_at


def _version(created: dt.datetime | None, name: str):
    return SimpleNamespace(CreationDate=created, LastName=name)


def test_current_version_orders_by_creation_date_not_by_position():
    jan, feb = dt.datetime(2025, 1, 1, 9), dt.datetime(2025, 2, 1, 9)
    assert soap.current_version([_version(feb, "now"), _version(jan, "old")]).LastName == "now"
    assert soap.current_version([_version(None, "undated"), _version(jan, "dated")]).LastName == "dated"
    assert soap.current_version([_version(jan, "first"), _version(jan, "second")]).LastName == "second"
    aware = dt.datetime(2025, 1, 1, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))  # 10:30 UTC
    assert soap.current_version([_version(aware, "aware"), _version(jan, "naive")]).LastName == "aware"


def _zeep_errors() -> list[zeep.exceptions.Error]:
    special = {
        zeep.exceptions.DTDForbidden: ("lolz", None, None),
        zeep.exceptions.EntitiesForbidden: ("lol", "lollol"),
        zeep.exceptions.ExternalReferenceForbidden: ("file:///etc/passwd",),
        zeep.exceptions.Fault: ("Server was unable to process request. ---> 1002: not allowed",),
        zeep.exceptions.TransportError: ("", 503),
    }
    classes = [
        c
        for _, c in inspect.getmembers(zeep.exceptions, inspect.isclass)
        if issubclass(c, zeep.exceptions.Error)
    ]
    return [cls(*special.get(cls, ("Unexpected element 'Foo'",))) for cls in classes]


@pytest.mark.parametrize("error", _zeep_errors(), ids=lambda e: type(e).__name__)
def test_every_zeep_error_becomes_a_product_error_naming_the_operation_and_the_fix(error):
    wrapped = soap._zeep_error("EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany", error)
    assert isinstance(wrapped, NmbrsError) and not isinstance(wrapped, zeep.exceptions.Error)
    message = str(wrapped)
    assert "EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany" in message and "Fix:" in message
    hostile = isinstance(error, zeep.exceptions.DTDForbidden | zeep.exceptions.EntitiesForbidden)
    assert wrapped.retryable is (
        isinstance(error, zeep.exceptions.TransportError | zeep.exceptions.XMLSyntaxError)
    )
    if hostile:
        assert "refused" in message and "not retried" in message


def test_zeep_errors_of_real_calls_are_wrapped(sb):
    with fast_soap(settings_for(sb)) as client:
        with pytest.raises(
            NmbrsError,
            match=r"CompanyService.Run_GetList: the request could not be built \(Missing element Year",
        ) as err:
            client.runs(101, None)  # type: ignore[arg-type]
        assert not isinstance(err.value.__cause__, zeep.exceptions.Error) and err.value.__suppress_context__
    # A strict zeep (as this client was before) fails on the first answer with an unknown element:
    # the failure still arrives as the product's error, not as zeep's XMLParseError.
    with fast_soap(settings_for(sb)) as client:
        client._zeep_settings = zeep.Settings(
            strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        sb.state.faults.inject("soap:CompanyService.List_GetAll", "extra_elements", times=None)
        with pytest.raises(
            NmbrsError, match="CompanyService.List_GetAll: Nmbrs's answer does not fit the bundled WSDL"
        ):
            client.companies()
        assert client.retries == 0


def test_a_doctype_or_a_truncated_answer_never_reaches_zeep():
    with pytest.raises(soap._UnreadableAnswer) as refused:
        soap._check_envelope(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
    assert refused.value.refused
    error = soap._unreadable_error("CompanyService.List_GetAll", refused.value)
    assert not error.retryable and "not retried" in str(error)
    with pytest.raises(soap._UnreadableAnswer) as truncated:
        soap._check_envelope(b'<?xml version="1.0"?><soap:Envelope xmlns:soap="urn:x"><soap:Body><a>')
    assert not truncated.value.refused
    assert isinstance(
        soap._unreadable_error("CompanyService.List_GetAll", truncated.value), NmbrsTransportError
    )


def _content(sb, operation: str, arguments: dict) -> str:
    task = call(sb.url, "1.1", "ReportService", operation, arguments).text
    for _ in range(200):
        result = call(sb.url, "1.1", "ReportService", "Reports_BackgroundTask_Result", {"TaskId": task})
        if result.findtext("{*}Status") == "Success":
            return result.findtext("{*}Content")
        time.sleep(0.05)
    raise AssertionError(f"task {task} did not finish")


WAGE = "Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background"
PAYSLIP = "Reports_GetPayslipByRunCompany_v2_Background"


def _truth(sb, table: str, company_id: int, year: int, run_number: int | None = None) -> list[tuple]:
    """The truth's lines (keyed on employee numbers, as the warehouse) on SOAP's employee ids, as
    the report has them."""
    soap_id = {e.number: e.id for e in sb.state.world.employees(company_id)}
    return sorted(
        (soap_id[line.employee_id], line.period, line.code, line.value)
        for line in sb.state.truth.lines(table, company_id, year)
        if run_number is None or line.run_number == run_number
    )


def test_utf16_declared_content_with_and_without_byte_order_mark_reads_to_the_cent(sb):
    year = years(sb)[0]
    variants = {}
    with fast_soap(settings_for(sb)) as client:
        for company_id in (101, 102):
            content = _content(sb, WAGE, {"companyId": company_id, "year": year})
            assert content.lstrip("\ufeff").startswith('<?xml version="1.0" encoding="utf-16"?>')
            variants[content.startswith("\ufeff")] = company_id
            task = client.start_wage_component_report(company_id, year)
            client.wait_for_reports([task])
            lines = sorted(
                (ln.employee_id, ln.period, ln.code, ln.value)
                for ln in client.report_lines(task, kind="period", year=year)
            )
            assert lines == _truth(sb, "wage_components", company_id, year)
    assert set(variants) == {True, False}, "both variants are served"


def test_the_accountant_report_has_the_real_shape_and_no_value_cells(sb):
    year = years(sb)[0]
    root = report_content(_content(sb, WAGE, {"companyId": 103, "year": year}))
    assert [child.tag for child in root][:4] == ["CompanyID", "CompanyName", "CompanyNumber", "PeriodType"]
    component = root.find("EmployeesList/Employees/WageComponentsList/WageComponents")
    assert [child.tag for child in component] == [
        "ComponentGuid",
        "ComponentNumber",
        "ComponentName",
        "CumulativeValue",
        "Values",
    ]
    assert [child.tag for child in component.find("Values/Value")] == ["ComponentValue", "Period", "Run"]
    cells = root.xpath("//Value/ComponentValue")
    assert {"-", None} <= {cell.text for cell in cells}, (
        "unpaid periods (-) and components without an amount (empty)"
    )
    with fast_soap(settings_for(sb)) as client:
        task = client.start_wage_component_report(103, year)
        client.wait_for_reports([task])
        lines = sorted(
            (ln.employee_id, ln.period, ln.code, ln.value)
            for ln in client.report_lines(task, kind="period", year=year)
        )
    assert lines == _truth(sb, "wage_components", 103, year)
    assert len(lines) < sum(1 for cell in cells), "the no-value cells gave no lines"


PAYSLIP_CHILDREN = [
    "employeeid",
    "employeename",
    "period",
    "year",
    "run",
    "header",
    "lines",
    "reservations",
    "leave_list",
    "footer",
]
LINE_CHILDREN = [
    "code",
    "description",
    "group",
    "amount",
    "value",
    "betaling",
    "tabel",
    "bt",
    "svw",
    "svwbt",
    "werkgever",
    "cumulative",
]


def test_the_payslip_report_has_the_real_shape_for_regular_and_correction_runs(sb):
    year = years(sb)[0]
    runs = sb.state.world.runs(101, year)
    correction = next(run for run in runs if run.type == "correction")
    with fast_soap(settings_for(sb)) as client:
        for company_id, run in ((101, runs[0]), (101, correction), (103, sb.state.world.runs(103, year)[0])):
            root = report_content(
                _content(sb, PAYSLIP, {"companyId": company_id, "runId": run.id, "year": year})
            )
            slip = root.find("payslip")
            assert [child.tag for child in slip] == PAYSLIP_CHILDREN
            assert [child.tag for child in slip.find("lines/line")] == LINE_CHILDREN
            assert slip.findtext("run") == str(run.number)
            task = client.start_payslip_report(company_id, run.id, year)
            client.wait_for_reports([task])
            lines = list(client.report_lines(task, kind="payslip", run_id=str(run.id)))
            assert {ln.run_id for ln in lines} == {str(run.id)}
            got = sorted((ln.employee_id, ln.period, ln.code, ln.value) for ln in lines)
            assert got == _truth(sb, "payslips", company_id, year, run.number)
            if company_id == 103:
                assert "-" in root.xpath("//line/value/text()"), (
                    "a company without pension has no-value pension lines"
                )
    corrected = _truth(sb, "payslips", 101, year, correction.number)
    assert {(code, value) for _, _, code, value in corrected} >= {("1000", Decimal("150.00"))}


@pytest.mark.parametrize("report", ["wage components", "payslips"])
def test_a_report_without_lines_for_a_year_with_runs_fails_loudly_and_keeps_the_rows(
    sb, warehouse_url, monkeypatch, report
):
    from pipelines.defs.nmbrs.company_year import load_company_year
    from pipelines.defs.nmbrs.source import NmbrsSession

    year = years(sb)[0]
    session = NmbrsSession(settings_for(sb, NMBRS_SOURCE_MODE="soap"), warehouse_url)
    conn = warehouse.connect(warehouse_url)
    count = (
        "select count(*) from nmbrs.wage_components"
        if report == "wage components"
        else "select count(*) from nmbrs.payslips"
    )
    try:
        load_company_year(session, conn, 103, year)
        with conn.cursor() as cur:
            cur.execute(count)
            loaded = cur.fetchone()[0]
        assert loaded > 0
        if report == "wage components":
            original = reports.wage_component_report
            monkeypatch.setattr(
                reports,
                "wage_component_report",
                lambda company, year, rows, *a, **k: original(company, year, [], *a, **k),
            )
            expected = "is empty although Nmbrs lists"
        else:
            original = reports.payslip_report
            monkeypatch.setattr(
                reports,
                "payslip_report",
                lambda company, run, rows, *a, **k: original(company, run, [], *a, **k),
            )
            expected = "holds no payslip lines"
        with pytest.raises(ReportContentError, match=expected) as err:
            load_company_year(session, conn, 103, year, refresh=True)
        assert "rolled back; the previous rows are kept" in str(err.value) and "Fix:" in str(err.value)
        with conn.cursor() as cur:
            cur.execute(count)
            assert cur.fetchone()[0] == loaded
    finally:
        conn.close()
        session.close()
