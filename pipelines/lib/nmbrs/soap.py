"""Client for the Nmbrs SOAP API v3 (zeep on the bundled WSDLs in ./wsdl).

`NmbrsSoapClient(settings, timeout=...)` — one per run; `close()` (or `with`) releases the session.
- Calls: `environment()`, `companies()`, `runs(company_id, year)`, `employees(company_id)` (each
  employee's current personal info: the version with the latest CreationDate),
  `start_wage_component_report(company_id, year)`, `start_payslip_report(company_id, run_id, year)`.
- Reports: `wait_for_reports(task_ids)` polls several background tasks round-robin (one request at a
  time, backoff, overall deadline); `open_report(task_id)` streams the report content;
  `report_lines(task_id, ...)` parses it; `load_report(task_id, load, ...)` re-fetches and re-runs
  an (atomic) load when the download breaks.
- `probe_permissions()`: each of the seven operations the product needs -> "ok" or the reason.
- `calls` counts HTTP requests, `retries` the retried ones.

Real answers carry elements the bundled WSDLs do not know, in places they do not expect: zeep runs
non-strict with `xsd_ignore_sequence_order`, so an unknown element is skipped and the known ones are
still read by name. Non-strict zeep would also "recover" a truncated or malformed body, so every
answer is first checked to be complete, well-formed XML without a DOCTYPE (`_check_envelope`).
Every zeep error becomes one of the product's errors (pipelines/lib/nmbrs/errors.py) naming the
operation and the fix.

Safety: every request has a timeout; zeep parses with forbid_dtd/forbid_entities/forbid_external
and without huge trees; the `zeep.transports` logger (which would log envelopes with the token) is
kept at INFO. Big reports never go through zeep: the result envelope is built with zeep, posted with
requests (stream=True) and read by expat in 64 KB pieces whose unescaped Content text feeds the
report parser, so memory stays bounded whatever the report size.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar
from xml.parsers import expat

import requests
import zeep
import zeep.exceptions
from lxml import etree
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential
from zeep.transports import Transport

from pipelines.lib.nmbrs.bounded import Deadline, RequestTimedOut, read_body
from pipelines.lib.nmbrs.config import NmbrsSettings
from pipelines.lib.nmbrs.errors import (
    NmbrsError,
    NmbrsFault,
    NmbrsTransportError,
    ReportContentError,
    ReportDownloadTimeout,
    ReportTaskError,
    ReportTimeout,
    fault_code,
    redact,
)
from pipelines.lib.nmbrs.records import (
    Company,
    Employee,
    Environment,
    PersonalData,
    RunInfo,
    unique_by_id,
)
from pipelines.lib.nmbrs.reports import DriftRecorder, ReportLine, iter_report_lines

WSDL_DIR = Path(__file__).resolve().parent / "wsdl"
NAMESPACE = "https://api.nmbrs.nl/soap/v3/{service}"
SERVICES = ("DebtorService", "CompanyService", "EmployeeService", "ReportService")

# The operations a token's API user template must allow (docs/nmbrs-api-soap.md).
REQUIRED_OPERATIONS = (
    "DebtorService.Environment_Get",
    "CompanyService.List_GetAll",
    "CompanyService.Run_GetList",
    "EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany",
    "ReportService.Reports_GetPayslipByRunCompany_v2_Background",
    "ReportService.Reports_BackgroundTask_Result",
    "ReportService.Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background",
)
RESULT_OPERATION = "ReportService.Reports_BackgroundTask_Result"
WAGE_REPORT_OPERATION = "Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background"
PAYSLIP_REPORT_OPERATION = "Reports_GetPayslipByRunCompany_v2_Background"
FINAL_STATUSES = {"Success", "Error", "Unknown"}
# Fault codes that prove the operation itself is allowed (the probe's input was just not valid data).
ALLOWED_BUT_NO_DATA = {2003, 2004, 2006, 2009, 2019, 2020, 2021, 2046}

logging.getLogger("zeep.transports").setLevel(logging.INFO)  # DEBUG would log envelopes (with the token)
# A value zeep cannot convert (a malformed date, say) is logged with its text: it may be a birth date.
logging.getLogger("zeep.xsd.types.simple").setLevel(logging.CRITICAL)
log = logging.getLogger(__name__)
T = TypeVar("T")


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, NmbrsError) and exc.retryable


class _UnreadableAnswer(Exception):
    """The HTTP body is not a SOAP answer zeep may read; `refused` when it is hostile (a DOCTYPE)."""

    def __init__(self, reason: str, refused: bool = False):
        super().__init__(reason)
        self.refused = refused


class _CheckedTransport(Transport):
    """A zeep Transport that bounds every answer (the whole request within the timeout, at most
    NMBRS_MAX_RESPONSE_MB, read in pieces: bounded.py), turns non-SOAP answers (an HTML 503 page, a
    429) into TransportError and checks every SOAP answer before zeep reads it (`_check_envelope`)."""

    def __init__(self, *args, max_response_bytes: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_response_bytes = max_response_bytes

    def post(self, address, message, headers):
        started = time.monotonic()
        response = self.session.post(
            address, data=message, headers=headers, timeout=self.operation_timeout, stream=True
        )
        response._content = read_body(
            response,
            _operation_of(headers),
            seconds=self.operation_timeout,
            limit=self.max_response_bytes,
            started=started,
        )
        return response

    def post_xml(self, address, envelope, headers):
        response = super().post_xml(address, envelope, headers)
        if response.status_code not in (200, 500) or "xml" not in response.headers.get("Content-Type", ""):
            raise zeep.exceptions.TransportError(status_code=response.status_code)
        _check_envelope(response.content)
        return response


def _operation_of(headers) -> str:
    """`Service.Operation` from a request's SOAPAction header (for messages)."""
    action = str(headers.get("SOAPAction", "")).strip('"')
    parts = action.rstrip("/").split("/")
    return ".".join(parts[-2:]) if len(parts) >= 2 else "the SOAP call"


def _check_envelope(body: bytes) -> None:
    """Complete, well-formed XML without a DOCTYPE, or _UnreadableAnswer (zeep runs non-strict, and
    non-strict lxml would silently recover a truncated body)."""

    def refuse(*_args) -> None:
        raise _UnreadableAnswer("the answer declares a DOCTYPE or entities", refused=True)

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise _UnreadableAnswer(f"{expat.ErrorString(exc.code)} at line {exc.lineno}") from None


def _retryable_or_cause(exc: BaseException) -> bool:
    """Also retry a loader's error (e.g. WarehouseLoadError) caused by a broken download."""
    return _retryable(exc) or _retryable(exc.__cause__)


class NmbrsSoapClient:
    def __init__(
        self,
        settings: NmbrsSettings,
        timeout: float | None = None,
        *,
        max_attempts: int = 4,
        poll_interval: tuple[float, float] = (5.0, 60.0),
        retry_wait: tuple[float, float] = (1.0, 30.0),
    ):
        if not settings.soap_configured:
            raise NmbrsError(
                "the SOAP client needs NMBRS_USERNAME and NMBRS_TOKEN. Fix: set them (docs/connecting-nmbrs.md)"
            )
        logging.getLogger("zeep.transports").setLevel(
            max(logging.INFO, logging.getLogger("zeep.transports").level)
        )
        self.settings = settings
        self.timeout = float(timeout or settings.timeout_seconds)
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.retry_wait = retry_wait
        self.calls = 0
        self.retries = 0
        self.session = requests.Session()
        self._transport = _CheckedTransport(
            session=self.session,
            timeout=self.timeout,
            operation_timeout=self.timeout,
            max_response_bytes=settings.max_response_bytes,
        )
        self._zeep_settings = zeep.Settings(
            strict=False,
            xsd_ignore_sequence_order=True,
            xml_huge_tree=False,
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        )
        self._clients: dict[str, zeep.Client] = {}
        self._services: dict[str, object] = {}
        self._domain: str | None = settings.domain or None
        self._statuses: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"NmbrsSoapClient(url={self.settings.soap_base!r}, calls={self.calls})"

    def __enter__(self) -> NmbrsSoapClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    # -- zeep plumbing -------------------------------------------------------------------------
    def _client(self, service: str) -> zeep.Client:
        if service not in self._clients:
            client = zeep.Client(
                str(WSDL_DIR / f"{service}.wsdl"), transport=self._transport, settings=self._zeep_settings
            )
            self._clients[service] = client
            self._services[service] = client.create_service(
                f"{{{NAMESPACE.format(service=service)}}}{service}Soap",
                f"{self.settings.soap_base}{service}.asmx",
            )
        return self._clients[service]

    def _header(self, service: str, with_domain: bool):
        client = self._client(service)
        ns = NAMESPACE.format(service=service)
        if with_domain:
            element = client.get_element(f"{{{ns}}}AuthHeaderWithDomain")
            return element(Username=self.settings.username, Token=self.settings.token, Domain=self.domain)
        element = client.get_element(f"{{{ns}}}AuthHeader")
        return element(Username=self.settings.username, Token=self.settings.token)

    def _retrying(self, predicate: Callable[[BaseException], bool] = _retryable) -> Retrying:
        def count(state: RetryCallState) -> None:
            self.retries += 1

        return Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=self.retry_wait[0], max=self.retry_wait[1]),
            retry=retry_if_exception(predicate),
            before_sleep=count,
            reraise=True,
        )

    def call(self, service: str, operation: str, *, with_domain: bool = True, **arguments):
        """One SOAP call with retries on transport errors and retryable faults."""
        return self._retrying()(self._call_once, service, operation, with_domain, arguments)

    def _call_once(self, service: str, operation: str, with_domain: bool, arguments: dict):
        name = f"{service}.{operation}"
        try:
            header = self._header(service, with_domain)
            proxy = self._services[service]
            self.calls += 1
            return _unwrapped(getattr(proxy, operation)(_soapheaders=[header], **arguments), operation)
        except zeep.exceptions.Error as exc:
            raise _zeep_error(name, exc) from None
        except _UnreadableAnswer as exc:
            raise _unreadable_error(name, exc) from None
        except requests.RequestException as exc:
            raise _network_error(name, self.settings.soap_base, exc) from None

    # -- environment and lists -----------------------------------------------------------------
    @property
    def domain(self) -> str:
        if self._domain is None:
            self._domain = self.environment().domain
        return self._domain

    def environment(self) -> Environment:
        result = self.call("DebtorService", "Environment_Get", with_domain=False)
        domain = getattr(result, "Domain", None)
        if not domain:
            raise NmbrsError(
                "DebtorService.Environment_Get returned no Domain. Fix: set NMBRS_DOMAIN to your Nmbrs domain"
            )
        return Environment(domain=domain, subdomain=getattr(result, "SubDomain", None))

    def companies(self) -> list[Company]:
        operation = "CompanyService.List_GetAll"
        result = self.call("CompanyService", "List_GetAll")
        companies = (
            Company(
                company_id=int(_required(c.ID, operation, "Company/ID")),
                number=_text(c.Number),
                name=_text(c.Name),
                period_type=c.LoonaangifteTijdvak,
                kvk_number=c.KvkNr,
                phone_number=c.PhoneNumber,
                email=c.Email,
                website=c.Website,
            )
            for c in _items(result, "Company")
        )
        return unique_by_id(companies, lambda c: c.company_id, operation, "company")

    def runs(self, company_id: int, year: int) -> list[RunInfo]:
        operation = "CompanyService.Run_GetList"
        result = self.call("CompanyService", "Run_GetList", CompanyId=company_id, Year=year)
        runs = (
            RunInfo(
                company_id=company_id,
                year=int(r.Year) if r.Year is not None else year,
                run_id=str(_required(r.ID, operation, "RunInfo/ID")),
                run_number=r.Number,
                period_start=r.PeriodStart,
                period_end=r.PeriodEnd,
                description=r.Description,
                run_at=r.RunAt,
                is_locked=r.IsLocked,
                run_type=None,
            )
            for r in _items(result, "RunInfo")
        )
        return unique_by_id(runs, lambda r: r.run_id, f"{operation} (company {company_id}, {year})", "run")

    def employees(self, company_id: int) -> list[tuple[Employee, PersonalData]]:
        operation = "EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany"
        result = self.call(
            "EmployeeService", "PersonalInfo_GetAll_AllEmployeesByCompany", CompanyID=company_id
        )
        out = []
        for item in _items(result, "PersonalInfoItem"):
            versions = [v for v in _items(item.EmployeePersonalInfos, "PersonalInfo_V2") if v is not None]
            if not versions:
                continue
            info = current_version(versions)
            employee_id = int(_required(item.EmployeeId, operation, "PersonalInfoItem/EmployeeId"))
            birthday = info.Birthday
            out.append(
                (
                    Employee(
                        company_id=company_id,
                        employee_id=employee_id,
                        employee_number=_text(info.EmployeeNumber),
                        display_name=info.DisplayName,
                        first_name=info.FirstName,
                        initials=info.Initials,
                        prefix=info.Prefix,
                        last_name=info.LastName,
                        gender=info.Gender,
                        start_period=info.StartPeriod,
                        start_year=info.StartYear,
                        creation_date=info.CreationDate,
                    ),
                    PersonalData(
                        company_id=company_id,
                        employee_id=employee_id,
                        bsn=info.BSN,
                        birth_date=birthday.date() if hasattr(birthday, "date") else birthday,
                        email_work=info.EmailWork,
                    ),
                )
            )
        return unique_by_id(out, lambda pair: pair[0].employee_id, f"{operation} ({company_id})", "employee")

    # -- background reports ----------------------------------------------------------------------
    def start_wage_component_report(self, company_id: int, year: int) -> str:
        return str(self.call("ReportService", WAGE_REPORT_OPERATION, companyId=company_id, year=year))

    def start_payslip_report(self, company_id: int, run_id: int | str, year: int) -> str:
        return str(
            self.call(
                "ReportService", PAYSLIP_REPORT_OPERATION, companyId=company_id, runId=int(run_id), year=year
            )
        )

    def _post_result_request(self, task_id: str, *, content: bool = False) -> ReportStream:
        """POST Reports_BackgroundTask_Result, streamed. A status poll must end within the timeout; a
        report download (`content`) within NMBRS_REPORT_DEADLINE_SECONDS, however slowly it drips."""
        try:
            client = self._client("ReportService")
            envelope = client.create_message(
                self._services["ReportService"],
                "Reports_BackgroundTask_Result",
                TaskId=task_id,
                _soapheaders=[self._header("ReportService", True)],
            )
        except zeep.exceptions.Error as exc:
            raise _zeep_error(RESULT_OPERATION, exc) from None
        body = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        self.calls += 1
        started = time.monotonic()
        try:
            response = self.session.post(
                f"{self.settings.soap_base}ReportService.asmx",
                data=body,
                headers={
                    "Content-Type": "text/xml; charset=utf-8",
                    "SOAPAction": f'"{NAMESPACE.format(service="ReportService")}/Reports_BackgroundTask_Result"',
                },
                timeout=self.timeout,
                stream=True,
            )
        except requests.RequestException as exc:
            raise _network_error(RESULT_OPERATION, self.settings.soap_base, exc) from None
        content_type = response.headers.get("Content-Type", "")
        if response.status_code not in (200, 500) or "xml" not in content_type:
            status = response.status_code
            response.close()
            raise _http_error(RESULT_OPERATION, status)
        if content:
            deadline = Deadline(response, self.settings.report_deadline_seconds, started)
            return ReportStream(response, task_id, deadline, "NMBRS_REPORT_DEADLINE_SECONDS")
        return ReportStream(response, task_id, Deadline(response, self.timeout, started))

    def task_status(self, task_id: str) -> str:
        """One poll of a task's status (the content, if any, is not downloaded)."""

        def poll() -> str:
            with self._post_result_request(task_id) as stream:
                return stream.read_status()

        status = self._retrying()(poll)
        self._statuses[task_id] = status
        return status

    def wait_for_reports(
        self, task_ids: Iterable[str], *, deadline_seconds: float | None = None, raise_errors: bool = True
    ) -> dict[str, str]:
        """Poll until every task is Success/Error/Unknown; round-robin, backing off between rounds.

        Returns {task_id: final status}. With raise_errors, a task that ended in Error/Unknown raises
        ReportTaskError once all are settled. ReportTimeout if some are still running at the deadline.
        """
        pending = list(dict.fromkeys(task_ids))
        deadline_seconds = deadline_seconds or self.settings.report_deadline_seconds
        deadline = time.monotonic() + deadline_seconds
        results: dict[str, str] = {}
        interval, maximum = self.poll_interval
        while pending:
            for task_id in list(pending):
                status = self.task_status(task_id)
                if status in FINAL_STATUSES:
                    results[task_id] = status
                    pending.remove(task_id)
            if not pending:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReportTimeout(pending, deadline_seconds)
            time.sleep(min(interval, remaining))
            interval = min(interval * 2, maximum)
        if raise_errors:
            for task_id, status in results.items():
                if status != "Success":
                    raise ReportTaskError(task_id, status)
        return results

    def open_report(self, task_id: str) -> ReportStream:
        """A binary stream of the report content (UTF-8). Use it with `with`; pass it to the parser."""
        status = self._statuses.get(task_id)
        if status in {"Error", "Unknown"}:
            raise ReportTaskError(task_id, status)
        stream = self._post_result_request(task_id, content=True)
        try:
            status = stream.read_status()
        except BaseException:
            stream.close()
            raise
        if status != "Success":
            stream.close()
            if status in {"Error", "Unknown"}:
                raise ReportTaskError(task_id, status)
            raise NmbrsError(
                f"{RESULT_OPERATION}: task {task_id} is {status}, not ready. Fix: call wait_for_reports first"
            )
        return stream

    def report_lines(
        self,
        task_id: str,
        *,
        kind: str,
        drift: DriftRecorder | None = None,
        year: int | None = None,
        run_id: str | None = None,
    ) -> Iterator[ReportLine]:
        """Stream the lines of a finished report task (`year` for kind="period", `run_id` for "payslip")."""
        with self.open_report(task_id) as stream:
            yield from iter_report_lines(
                stream, kind=kind, drift=drift, year=year, run_id=run_id, encoding="utf-8"
            )

    def load_report(
        self,
        task_id: str,
        load: Callable[[Iterator[ReportLine]], T],
        *,
        kind: str,
        year: int | None = None,
        run_id: str | None = None,
    ) -> tuple[T, DriftRecorder]:
        """Run `load(lines)` (an atomic load such as replace_partition); re-fetch and re-run it when
        the download breaks (truncated body, reset). Returns load's result and the drift recorded."""

        def attempt() -> tuple[T, DriftRecorder]:
            drift = DriftRecorder()
            lines = self.report_lines(task_id, kind=kind, drift=drift, year=year, run_id=run_id)
            return load(lines), drift

        return self._retrying(_retryable_or_cause)(attempt)

    # -- doctor ----------------------------------------------------------------------------------
    def probe_permissions(self, year: int | None = None) -> dict[str, str]:
        """Try each required operation once, without retries: "ok", or why it fails with the fix.

        A data-level fault (no such company, run or task) proves the operation itself is allowed.
        Starts two report tasks on Nmbrs (the smallest company's).
        """
        year = year or time.localtime().tm_year
        results: dict[str, str] = {}
        saved, self.max_attempts = self.max_attempts, 1
        try:
            self._probe(results, "DebtorService.Environment_Get", self.environment)
            companies = self._probe(results, "CompanyService.List_GetAll", self.companies)
            company_id = companies[0].company_id if companies else 0
            runs = self._probe(results, "CompanyService.Run_GetList", lambda: self.runs(company_id, year))
            self._probe(
                results,
                "EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany",
                lambda: self.employees(company_id),
            )
            run_id = runs[0].run_id if runs else 0
            self._probe(
                results,
                f"ReportService.{PAYSLIP_REPORT_OPERATION}",
                lambda: self.start_payslip_report(company_id, run_id, year),
            )
            task_id = self._probe(
                results,
                f"ReportService.{WAGE_REPORT_OPERATION}",
                lambda: self.start_wage_component_report(company_id, year),
            )
            self._probe(results, RESULT_OPERATION, lambda: self.task_status(task_id or str(uuid.UUID(int=0))))
        finally:
            self.max_attempts = saved
        return {name: results[name] for name in REQUIRED_OPERATIONS}

    @staticmethod
    def _probe(results: dict[str, str], name: str, run: Callable[[], T]) -> T | None:
        try:
            value = run()
        except NmbrsFault as fault:
            allowed = fault.code in ALLOWED_BUT_NO_DATA
            results[name] = "ok" if allowed else f"{fault.meaning}. Fix: {fault.fix}"
            return None
        except NmbrsError as exc:
            results[name] = str(exc)
            return None
        results[name] = "ok"
        return value


def _unwrapped(result, operation: str):
    """The <OperationResult>: zeep leaves the <OperationResponse> wrapper on when the response holds
    anything beside the result (an element a newer Nmbrs added)."""
    values = getattr(result, "__values__", None)
    if isinstance(values, dict) and f"{operation}Result" in values:
        return values[f"{operation}Result"]
    return result


def _items(result, name: str) -> list:
    if result is None:
        return []
    if isinstance(result, list | tuple):  # zeep flattens ArrayOfX to a list
        return list(result)
    items = getattr(result, name, None)
    if items is None:
        return []
    return list(items) if isinstance(items, list | tuple) else [items]


def _text(value) -> str:
    return "" if value is None else str(value)


def _required(value: T | None, operation: str, element: str) -> T:
    if value is None:
        raise NmbrsError(
            f"{operation}: Nmbrs's answer has no {element}. Fix: the SOAP answer changed shape; run "
            "`payroll doctor` and report it with the operation name (docs/nmbrs-api-soap.md)"
        )
    return value


def current_version(versions: list):
    """The current PersonalInfo_V2: the one with the latest CreationDate (not the last in the list).

    A version without a CreationDate counts as the oldest; among equal dates the later one wins.
    """

    def created(index: int) -> tuple[bool, dt.datetime, int]:
        stamp = versions[index].CreationDate
        if stamp is None:
            return (False, dt.datetime.min, index)
        if stamp.tzinfo is not None:  # zeep gives aware datetimes for stamps with an offset
            stamp = stamp.astimezone(dt.UTC).replace(tzinfo=None)
        return (True, stamp, index)

    return versions[max(range(len(versions)), key=created)]


def _zeep_error(operation: str, exc: zeep.exceptions.Error) -> NmbrsError:
    """The product's error for a zeep error: what went wrong in `operation`, and the fix."""
    if isinstance(exc, zeep.exceptions.Fault):
        return NmbrsFault(fault_code(exc.message or ""), operation, exc.message or "")
    if isinstance(exc, zeep.exceptions.TransportError):
        return _http_error(operation, exc.status_code)
    if isinstance(exc, zeep.exceptions.XMLSyntaxError):
        return _unreadable_error(operation, _UnreadableAnswer("not well-formed XML"))
    if isinstance(exc, zeep.exceptions.DTDForbidden | zeep.exceptions.EntitiesForbidden):
        return _unreadable_error(operation, _UnreadableAnswer("a DOCTYPE or entities", refused=True))
    detail = redact(str(exc.message or exc))
    if isinstance(exc, zeep.exceptions.ValidationError):
        return NmbrsError(
            f"{operation}: the request could not be built ({detail}). Fix: check the arguments "
            "(company id, year, run id) and NMBRS_USERNAME/NMBRS_TOKEN/NMBRS_DOMAIN"
        )
    if isinstance(exc, zeep.exceptions.XMLParseError):
        return NmbrsError(
            f"{operation}: Nmbrs's answer does not fit the bundled WSDL ({detail}). Fix: the SOAP answer "
            "changed shape; report it with the operation name, or update pipelines/lib/nmbrs/wsdl "
            "(docs/nmbrs-api-soap.md)"
        )
    return NmbrsError(
        f"{operation}: the SOAP client failed ({type(exc).__name__}: {detail}). Fix: check NMBRS_SOAP_URL "
        "and the bundled WSDLs (pipelines/lib/nmbrs/wsdl); report it with the operation name"
    )


def _unreadable_error(operation: str, exc: _UnreadableAnswer) -> NmbrsError:
    if exc.refused:
        return NmbrsError(
            f"{operation}: the answer declares a DOCTYPE or entities; refused (entity expansion and "
            "external entities are unsafe), and not retried. Fix: check that NMBRS_SOAP_URL points at Nmbrs"
        )
    return NmbrsTransportError(
        f"{operation}: the response was not complete XML ({exc}; truncated?). Fix: retried automatically; "
        "if it persists, check NMBRS_SOAP_URL"
    )


def _http_error(operation: str, status: int | None) -> NmbrsTransportError:
    error = NmbrsTransportError(
        f"{operation}: Nmbrs answered HTTP {status} without a SOAP result. Fix: retried automatically; "
        "if it persists, check NMBRS_SOAP_URL or Nmbrs's status"
    )
    error.retryable = status is None or status >= 500 or status in (408, 429)
    return error


def _network_error(operation: str, base: str, exc: Exception) -> NmbrsTransportError:
    kind = "timed out" if isinstance(exc, requests.Timeout) else "could not connect or the connection broke"
    return NmbrsTransportError(
        f"{operation}: the request to {base} {kind} ({type(exc).__name__}). Fix: retried automatically; "
        "check NMBRS_SOAP_URL and the network"
    )


class ReportStream(io.RawIOBase):
    """The Reports_BackgroundTask_Result response, read incrementally with expat.

    `read_status()` reads just far enough to know the task's Status (or raises the fault);
    `read()` returns the unescaped Content as UTF-8 bytes, 64 KB at a time.
    """

    CHUNK = 1 << 16
    SMALL_TEXT_LIMIT = 1 << 16

    def __init__(
        self,
        response: requests.Response,
        task_id: str,
        deadline: Deadline | None = None,
        deadline_setting: str = "NMBRS_TIMEOUT_SECONDS",
    ):
        self._response = response
        self._deadline = deadline
        self._deadline_setting = deadline_setting
        self._received = 0
        self._chunks = response.iter_content(self.CHUNK)
        self.task_id = task_id
        self.status: str | None = None
        self._out: deque[bytes] = deque()
        self._path: list[str] = []
        self._text: list[str] = []
        self._text_size = 0
        self._in_content = False
        self._content_done = False
        self._eof = False
        self._fault: dict[str, str] = {}
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.buffer_text = True
        parser.buffer_size = self.CHUNK
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = self._refuse
        parser.EntityDeclHandler = self._refuse
        parser.ExternalEntityRefHandler = self._refuse
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._chars
        self._parser = parser

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            if self._deadline is not None:
                self._deadline.cancel()
            self._response.close()
        super().close()

    @staticmethod
    def _refuse(*_args) -> None:
        # Content, not transport: the same answer would come back, so this is never retried.
        raise ReportContentError(
            f"{RESULT_OPERATION}: the response declares a DOCTYPE or entities; refused (entity expansion "
            "and external entities are unsafe), and not retried. Fix: check that NMBRS_SOAP_URL points at Nmbrs"
        )

    def _check_deadline(self, broken: bool = False) -> None:
        deadline = self._deadline
        if deadline is None:
            return
        deadline.check()
        if not deadline.expired:
            return
        what = f"{RESULT_OPERATION} (task {self.task_id})"
        if self._deadline_setting == "NMBRS_TIMEOUT_SECONDS":
            raise RequestTimedOut(what, deadline.seconds, self._deadline_setting, self._received)
        raise ReportDownloadTimeout(what, deadline.seconds, self._received)

    def _start(self, name: str, attrs) -> None:
        local = name.rpartition(" ")[2]
        self._path.append(local)
        self._text = []
        self._text_size = 0
        if (
            local == "Content"
            and len(self._path) >= 2
            and self._path[-2] == "Reports_BackgroundTask_ResultResult"
        ):
            self._in_content = True

    def _end(self, name: str) -> None:
        local = self._path.pop()
        if self._in_content and local == "Content":
            self._in_content = False
            self._content_done = True
            return
        text = "".join(self._text).strip()
        self._text = []
        if local == "Status" and self._path and self._path[-1] == "Reports_BackgroundTask_ResultResult":
            self.status = text
        elif local in {"faultstring", "Text", "faultcode", "Value"} and "Fault" in self._path:
            self._fault[local] = text
        elif local == "Reports_BackgroundTask_ResultResult":
            self._content_done = True

    def _chars(self, data: str) -> None:
        if self._in_content:
            self._out.append(data.encode("utf-8"))
        elif self._text_size < self.SMALL_TEXT_LIMIT:
            self._text.append(data)
            self._text_size += len(data)

    def _pump(self) -> None:
        """Feed the next network chunk to expat (or finish the document at the end)."""
        try:
            chunk = next(self._chunks, None)
        except requests.RequestException as exc:
            self._check_deadline()
            raise _network_error(RESULT_OPERATION, self._response.url, exc) from None
        if chunk is not None:
            self._received += len(chunk)
        self._check_deadline()
        try:
            if chunk is None:
                self._eof = True
                self._parser.Parse(b"", True)
            else:
                self._parser.Parse(chunk, False)
        except expat.ExpatError:
            self._check_deadline()
            raise NmbrsTransportError(
                f"{RESULT_OPERATION}: the response for task {self.task_id} is not complete XML "
                "(the connection broke or the body was truncated). Fix: retried automatically"
            ) from None
        if self._fault:
            message = self._fault.get("faultstring") or self._fault.get("Text") or ""
            if self._eof or "Fault" not in self._path:
                raise NmbrsFault(fault_code(message), RESULT_OPERATION, message)

    def read_status(self) -> str:
        while self.status is None and not self._eof:
            self._pump()
        if self.status is None:
            raise NmbrsTransportError(
                f"{RESULT_OPERATION}: the response for task {self.task_id} has no Status. "
                "Fix: check that NMBRS_SOAP_URL points at Nmbrs"
            )
        return self.status

    def read(self, size: int = -1) -> bytes:
        while not self._out and not self._content_done and not self._eof:
            self._pump()
        if not self._out:
            return b""
        data = self._out.popleft()
        if size is not None and 0 < size < len(data):
            self._out.appendleft(data[size:])
            data = data[:size]
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
