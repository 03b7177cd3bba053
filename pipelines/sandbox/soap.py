"""The SOAP v3 endpoints: envelope parsing, authentication, permissions, the seven operations, faults.

SOAP 1.1 (text/xml + SOAPAction) and SOAP 1.2 (application/soap+xml) are both answered, in the
version the request used. Envelopes are parsed without DTDs, entities or network access. Answers use
the complete types of the real WSDLs (Company, RunInfo, the 36 children of PersonalInfo_V2 in their
order, a personal-info history per employee) and the real report shapes (pipelines/sandbox/reports.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from pipelines.sandbox import contract, reports
from pipelines.sandbox.faults import FaultRule
from pipelines.sandbox.generator import earlier_personal_info
from pipelines.sandbox.model import Employee
from pipelines.sandbox.state import SandboxState, SoapToken
from pipelines.sandbox.web import Request, Response
from pipelines.sandbox.world import SandboxError

log = logging.getLogger(__name__)
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
MAX_ENVELOPE_BYTES = 1_000_000
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    huge_tree=False,
    load_dtd=False,
    dtd_validation=False,
    remove_blank_text=True,
)


class SoapFault(Exception):
    """A fault to send back. `code` is the Nmbrs code (None for envelope-level faults)."""

    def __init__(self, message: str, code: int | None = None, client: bool = False):
        super().__init__(message)
        self.code = code
        self.client = client


@dataclass(frozen=True)
class SoapCall:
    version: str  # "1.1" | "1.2"
    service: str
    operation: str
    header: etree._Element | None
    body: etree._Element

    @property
    def ns(self) -> str:
        return contract.namespace(self.service)

    def child(self, element: etree._Element | None, name: str) -> str | None:
        if element is None:
            return None
        found = element.find(f"{{{self.ns}}}{name}")
        return None if found is None or found.text is None else found.text.strip()

    def int_arg(self, name: str) -> int:
        raw = self.child(self.body, name)
        if raw is None or raw == "":
            return 0  # ASMX reads a missing int as 0
        try:
            return int(raw)
        except ValueError:
            raise SoapFault(
                f"Server was unable to read request. ---> There is an error in XML document: "
                f"{name} must be an integer",
                client=True,
            ) from None


def version_of(request: Request) -> str | None:
    content_type = request.header("content-type").split(";", 1)[0].strip().lower()
    return {"text/xml": "1.1", "application/soap+xml": "1.2"}.get(content_type)


def peek_operation(service: str, request: Request) -> str:
    """The operation a request asks for, for counting and fault matching ('?' when unreadable)."""
    if version_of(request) == "1.1":
        action = request.header("soapaction").strip().strip('"')
        name = action.rsplit("/", 1)[-1]
        if name in contract.SERVICES.get(service, ()):
            return name
    try:
        call = parse(service, request)
    except SoapFault:
        return "?"
    return call.operation


def parse(service: str, request: Request) -> SoapCall:
    version = version_of(request)
    if version is None:
        raise SoapFault(
            "Unsupported content type; use text/xml (SOAP 1.1) or application/soap+xml (SOAP 1.2)",
            client=True,
        )
    if len(request.body) > MAX_ENVELOPE_BYTES:
        raise SoapFault("Request envelope too large", client=True)
    try:
        root = etree.fromstring(request.body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault(
            f"Server was unable to read request. ---> There is an error in XML document: {exc}", client=True
        ) from None
    if root.getroottree().docinfo.doctype:
        raise SoapFault("Server was unable to read request. ---> DTDs are not allowed", client=True)
    env = contract.SOAP11_ENV if version == "1.1" else contract.SOAP12_ENV
    if root.tag != f"{{{env}}}Envelope":
        raise SoapFault(
            f"VersionMismatch: expected a SOAP {version} Envelope for this content type", client=True
        )
    body = root.find(f"{{{env}}}Body")
    if body is None or len(body) == 0:
        raise SoapFault(
            "Server was unable to read request. ---> The envelope has no Body element", client=True
        )
    operation_element = body[0]
    qname = etree.QName(operation_element)
    ns = contract.namespace(service)
    if qname.namespace != ns or qname.localname not in contract.SERVICES[service]:
        raise SoapFault(
            f"Server did not recognize the value of HTTP Header SOAPAction: {qname.text}.", client=True
        )
    if version == "1.1":
        action = request.header("soapaction").strip().strip('"')
        if action != contract.soap_action(service, qname.localname):
            raise SoapFault(
                f"Server did not recognize the value of HTTP Header SOAPAction: {action}.", client=True
            )
    return SoapCall(version, service, qname.localname, root.find(f"{{{env}}}Header"), operation_element)


def handle(state: SandboxState, service: str, request: Request, fault: FaultRule | None) -> Response:
    version = version_of(request) or "1.1"
    try:
        call = parse(service, request)
        version = call.version
        if fault is not None and fault.kind == "fault":
            code = int(fault.params.get("code", 9999))
            raise SoapFault(f"Injected fault {code}", code=code)
        token = authenticate(state, call)
        result = OPERATIONS[call.operation](state, call, token, fault)
        if fault is not None and fault.kind == "extra_elements":
            _add_unknown_elements(result)
        if fault is not None and fault.kind == "repeat":
            count, vary = int(fault.params.get("count", 1000)), bool(fault.params.get("vary"))
            return _repeated(version, result, count, vary)
        if fault is not None and fault.kind == "doctype":
            return _with_doctype(_envelope(version, result))
        return _envelope(version, result)
    except SoapFault as exc:
        return fault_response(version, str(exc), exc.code, exc.client)
    except SandboxError as exc:
        return fault_response(version, str(exc), exc.code)
    except Exception:
        log.exception("sandbox SOAP %s.%s failed", service, getattr(request, "path", ""))
        return fault_response(version, "Unknown error", 9999)


def authenticate(state: SandboxState, call: SoapCall) -> SoapToken:
    with_domain = call.operation not in contract.AUTH_HEADER_OPERATIONS
    header_name = "AuthHeaderWithDomain" if with_domain else "AuthHeader"
    header = None if call.header is None else call.header.find(f"{{{call.ns}}}{header_name}")
    if header is None:
        raise SoapFault(
            f"Invalid authentication: a {header_name} header is required for {call.operation}", 1001
        )
    token = state.soap_token(call.child(header, "Token") or "")
    username = (call.child(header, "Username") or "").lower()
    if token is None or token.username.lower() != username:
        raise SoapFault("Invalid authentication: unknown username or token", 1001)
    if with_domain and (call.child(header, "Domain") or "").lower() != contract.DOMAIN:
        raise SoapFault("Invalid domain: the domain does not belong to this user's environment", 2043)
    operation = f"{call.service}.{call.operation}"
    if operation not in token.permissions:
        raise SoapFault(f"The API template of this token does not allow the operation {operation}", 1002)
    return token


def _company_id(state: SandboxState, token: SoapToken, company_id: int) -> int:
    state.world.company(company_id)
    if token.companies is not None and company_id not in token.companies:
        raise SandboxError(2004, f"No rights to company {company_id}")
    return company_id


def _text(parent: etree._Element, ns: str, name: str, value: object) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{name}")
    if isinstance(value, bool):
        element.text = "true" if value else "false"
    elif isinstance(value, dt.datetime):
        element.text = value.strftime("%Y-%m-%dT%H:%M:%S")
    elif isinstance(value, dt.date):
        element.text = f"{value.isoformat()}T00:00:00"
    else:
        element.text = "" if value is None else str(value)
    return element


def _fields(parent: etree._Element, ns: str, fields: tuple[tuple[str, object], ...]) -> None:
    """Children in the type's order as .NET writes them: a None string is left out, a None date that
    the type requires (nillable) is xsi:nil."""
    for name, value in fields:
        if value is not None:
            _text(parent, ns, name, value)
        elif name in NILLABLE_REQUIRED:
            etree.SubElement(parent, f"{{{ns}}}{name}").set(f"{{{XSI}}}nil", "true")


def _add_unknown_elements(payload: etree._Element) -> None:
    """Fault `extra_elements`: every complex element gains a child this product's WSDLs do not know,
    after its first child and at its end, as a newer Nmbrs version would send."""
    for element in [e for e in payload.iter(tag=etree.Element) if len(e)]:
        ns = etree.QName(element).namespace
        element.insert(1, etree.Element(f"{{{ns}}}AddedByNmbrs"))
        etree.SubElement(etree.SubElement(element, f"{{{ns}}}NewerField"), f"{{{ns}}}Detail").text = "x"


_REPEAT_START, _REPEAT_END = b"<!--repeat-start-->", b"<!--repeat-end-->"


def _repeated(version: str, payload: etree._Element, count: int, vary: bool = False) -> Response:
    """Fault `repeat`: the listing's first item `count` times (spliced as bytes, so that a 200 MB
    answer costs the sandbox one copy of it, not an element tree); `vary`: the second copy's name
    differs (one id, two contents)."""
    result = payload[0] if len(payload) else None
    if result is None or not len(result):
        return _envelope(version, payload)
    item = result[0]
    item.addprevious(etree.Comment("repeat-start"))
    item.addnext(etree.Comment("repeat-end"))
    response = _envelope(version, payload)
    head, _, rest = response.body.partition(_REPEAT_START)
    middle, _, tail = rest.partition(_REPEAT_END)
    copies = [middle * count]
    if vary and count > 1:
        other = middle.replace(b"</Name>", b" (other)</Name>", 1)
        copies = [middle, other, middle * (count - 2)]
    return Response(response.status, b"".join((head, *copies, tail)), response.content_type)


def _with_doctype(response: Response) -> Response:
    """Fault `doctype`: the answer declares a DOCTYPE with an internal entity (as an entity bomb would)."""
    declaration, _, rest = response.body.partition(b"?>")
    doctype = b'<!DOCTYPE Envelope [<!ENTITY sandbox "sandbox">]>'
    return Response(response.status, declaration + b"?>\n" + doctype + rest, response.content_type)


def _repeat_first_block(content: str, fault: FaultRule | None, element: str) -> str:
    """Fault `repeat_block`: the report's first `<element>` block twice in a row."""
    if fault is None or fault.kind != "repeat_block":
        return content
    start = content.find(f"<{element}>")
    end = content.find(f"</{element}>", start)
    if start < 0 or end < 0:
        return content
    end += len(f"</{element}>")
    return content[:end] + content[start:end] + content[end:]


def _result(call: SoapCall) -> tuple[etree._Element, etree._Element]:
    response = etree.Element(f"{{{call.ns}}}{call.operation}Response", nsmap={None: call.ns})
    return response, etree.SubElement(response, f"{{{call.ns}}}{call.operation}Result")


def environment_get(state, call, token, fault):
    response, result = _result(call)
    _text(result, call.ns, "Domain", contract.DOMAIN)
    _text(result, call.ns, "SubDomain", contract.SUBDOMAIN)
    return response


def list_get_all(state, call, token, fault):
    response, result = _result(call)
    for c in state.world.companies():
        if token.companies is not None and c.id not in token.companies:
            continue
        item = etree.SubElement(result, f"{{{call.ns}}}Company")
        for name, value in (
            ("ID", c.id),
            ("Number", c.number),
            ("Name", c.name),
            ("PhoneNumber", c.phone_number),
            ("FaxNumber", c.fax_number),
            ("Email", c.email),
            ("Website", c.website),
            ("LoonaangifteTijdvak", c.period_type),
            ("KvkNr", c.kvk_number),
        ):
            _text(item, call.ns, name, value)
    return response


def run_get_list(state, call, token, fault):
    company_id = _company_id(state, token, call.int_arg("CompanyId"))
    year = call.int_arg("Year")
    response, result = _result(call)
    runs = state.world.runs(company_id, year) if year in state.world.years(company_id) else []
    for run in runs:
        item = etree.SubElement(result, f"{{{call.ns}}}RunInfo")
        for name, value in (
            ("ID", run.id),
            ("Number", run.number),
            ("Year", run.year),
            ("PeriodStart", run.period_start),
            ("PeriodEnd", run.period_end),
            ("Description", run.description),
            ("RunAt", run.run_at),
            ("IsLocked", run.locked),
        ):
            _text(item, call.ns, name, value)
    return response


NILLABLE_REQUIRED = frozenset({"Birthday", "CreationDate"})


def personal_info(state, call, token, fault):
    company_id = _company_id(state, token, call.int_arg("CompanyID"))
    phone = state.world.company(company_id).phone_number
    response, result = _result(call)
    for e in state.world.employees(company_id):
        item = etree.SubElement(result, f"{{{call.ns}}}PersonalInfoItem")
        _text(item, call.ns, "EmployeeId", e.id)
        infos = etree.SubElement(item, f"{{{call.ns}}}EmployeePersonalInfos")
        _personal_info_v2(infos, call.ns, e, phone, e.id * 10 + 1, e.last_name, e.created_at)
        earlier = earlier_personal_info(e)
        if earlier is not None:  # the history is not in date order: the current version comes first
            _personal_info_v2(infos, call.ns, e, phone, e.id * 10, *earlier)
    return response


def _personal_info_v2(parent, ns: str, e: Employee, phone: str, info_id: int, last_name: str, created):
    """One PersonalInfo_V2: its 36 children in the real type's order (docs/nmbrs-api-soap.md)."""
    display = " ".join(part for part in (e.first_name, e.prefix, last_name) if part)
    _fields(
        etree.SubElement(parent, f"{{{ns}}}PersonalInfo_V2"),
        ns,
        (
            ("Id", info_id),
            ("DisplayName", display),
            ("EmployeeNumber", e.number),
            ("BSN", e.bsn),
            ("Title", None),
            ("FirstName", e.first_name),
            ("Initials", e.initials),
            ("Prefix", e.prefix),
            ("LastName", last_name),
            ("Nickname", None),
            ("Gender", e.gender),
            ("NationalityCode", 0),
            ("PlaceOfBirth", None),
            ("CountryOfBirthISOCode", "NL"),
            ("IdentificationNumber", None),
            ("IdentificationType", 0),
            ("PartnerPrefix", None),
            ("PartnerLastName", None),
            ("TelephonePrivate", None),
            ("TelephoneWork", phone),
            ("TelephoneMobilePrivate", None),
            ("TelephoneMobileWork", None),
            ("TelephoneOther", None),
            ("EmailPrivate", None),
            ("EmailWork", e.email_work),
            ("BurgerlijkeStaat", 0),
            ("Naamstelling", 0),
            ("Birthday", e.birth_date),
            ("CreationDate", created),
            ("StartPeriod", e.start_period),
            ("StartYear", e.start_year),
            ("DeceasedDate", None),
            ("InCaseOfEmergency", None),
            ("InCaseOfEmergencyPhone", None),
            ("InCaseOfEmergencyRelation", None),
            ("TitleAfter", None),
        ),
    )


def _task_response(state, call, token, fault, content: str):
    outcome, seconds = "Success", None
    if fault is not None and fault.kind == "task_error":
        outcome = "Error"
    elif fault is not None and fault.kind == "task_unknown":
        outcome = "Unknown"
    elif fault is not None and fault.kind == "task_slow":
        seconds = float(fault.params.get("seconds", 5.0))
    task = state.tasks.create(token.token, content, outcome, seconds)
    response, result = _result(call)
    result.text = task.id
    return response


def _hostile_value(fault: FaultRule | None) -> str | None:
    return (
        str(fault.params.get("value", "1e5")) if fault is not None and fault.kind == "report_value" else None
    )


def wage_components_per_period(state, call, token, fault):
    company_id = _company_id(state, token, call.int_arg("companyId"))
    year = call.int_arg("year")
    world = state.world
    rows = world.period_report(company_id, year) if year in world.years(company_id) else []

    def run_number(period: int, employee_id: int) -> int:
        return world.last_run(company_id, year, period, employee_id).number

    content = reports.wage_component_report(
        world.company(company_id),
        year,
        rows,
        {e.id: e for e in world.employees(company_id)},
        run_number,
        decimal_comma=state.config.decimal_comma,
        with_bom=(company_id + year) % 2 == 1,
        hostile_value=_hostile_value(fault),
    )
    content = _repeat_first_block(content, fault, "Employees")
    return _task_response(state, call, token, fault, content)


def payslip_by_run(state, call, token, fault):
    company_id = _company_id(state, token, call.int_arg("companyId"))
    year = call.int_arg("year")
    world = state.world
    if year not in world.years(company_id):
        raise SandboxError(2046, f"Run {call.int_arg('runId')} not found for company {company_id} in {year}")
    run = world.run(company_id, year, call.int_arg("runId"))
    content = reports.payslip_report(
        world.company(company_id),
        run,
        world.payslips(run),
        {e.id: e for e in world.employees(company_id)},
        decimal_comma=state.config.decimal_comma,
        with_bom=run.number % 2 == 1,
        hostile_value=_hostile_value(fault),
    )
    content = _repeat_first_block(content, fault, "payslip")
    return _task_response(state, call, token, fault, content)


def task_result(state, call, token, fault):
    task_id = call.child(call.body, "TaskId") or ""
    task = state.tasks.get(task_id)
    if task is None or task.token != token.token:
        raise SandboxError(2019, f"Task status not available for task {task_id or '(empty)'}")
    status = task.status(state.clock())
    response, result = _result(call)
    _text(result, call.ns, "TaskId", task.id)
    _text(result, call.ns, "Status", status)
    if status == "Success":
        _text(result, call.ns, "Content", task.content)
    return response


OPERATIONS: dict[str, Callable] = {
    "Environment_Get": environment_get,
    "List_GetAll": list_get_all,
    "Run_GetList": run_get_list,
    "PersonalInfo_GetAll_AllEmployeesByCompany": personal_info,
    "Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background": wage_components_per_period,
    "Reports_GetPayslipByRunCompany_v2_Background": payslip_by_run,
    "Reports_BackgroundTask_Result": task_result,
}


def _envelope(version: str, payload: etree._Element, status: int = 200) -> Response:
    env = contract.SOAP11_ENV if version == "1.1" else contract.SOAP12_ENV
    root = etree.Element(f"{{{env}}}Envelope", nsmap={"soap": env, "xsi": XSI, "xsd": XSD})
    etree.SubElement(root, f"{{{env}}}Body").append(payload)
    content_type = "text/xml; charset=utf-8" if version == "1.1" else "application/soap+xml; charset=utf-8"
    return Response(status, etree.tostring(root, xml_declaration=True, encoding="utf-8"), content_type)


def fault_response(version: str, message: str, code: int | None, client: bool = False) -> Response:
    """An ASMX-style fault: the Nmbrs code appears in the text as `---> <code>: message`."""
    text = (
        (
            f"System.Web.Services.Protocols.SoapException: Server was unable to process request. "
            f"---> {code}: {message}"
        )
        if code is not None
        else f"System.Web.Services.Protocols.SoapException: {message}"
    )
    if version == "1.1":
        env = contract.SOAP11_ENV
        fault = etree.Element(f"{{{env}}}Fault")
        etree.SubElement(fault, "faultcode").text = "soap:Client" if client else "soap:Server"
        etree.SubElement(fault, "faultstring").text = text
        etree.SubElement(fault, "detail")
    else:
        env = contract.SOAP12_ENV
        fault = etree.Element(f"{{{env}}}Fault")
        code_el = etree.SubElement(etree.SubElement(fault, f"{{{env}}}Code"), f"{{{env}}}Value")
        code_el.text = "soap:Sender" if client else "soap:Receiver"
        reason = etree.SubElement(etree.SubElement(fault, f"{{{env}}}Reason"), f"{{{env}}}Text")
        reason.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        reason.text = text
        etree.SubElement(fault, f"{{{env}}}Detail")
    return _envelope(version, fault, status=500)
