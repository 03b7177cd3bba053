"""Parsers for the REST document files: a payroll run's output and its journals (docs/nmbrs-api.md).

- Run output (`/runs/{payrollRunId}/wagecodes/xml`): the layout is not public, so it is
  **modeled** here, and only here: `runoutput{companyid, companynumber, payrollrunid, runnumber,
  year}/employees/employee{employeeid, employeenumber}/periods/period{year, number}/wagecodes/
  wagecode{code, description, value}`.
- Journal (`/runs/{payrollRunId}/journals` and variants), as Nmbrs documents it:
  `transactions/transaction/header{date, period "3/2025"}/lines/line[@id]{dim1, dim2, dim3, value,
  debitcredit, description}`; dim1 is the GL account as set up in Nmbrs.
Both are parsed tolerantly: element names are matched without namespace or case, an unknown element
is counted as drift (names and counts only) and skipped, a missing required element or a value that
is not a decimal with a dot raises ReportContentError naming the element and where it is. DTDs and
entities are refused; a declared encoding that the bytes do not have (a .NET habit) is ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from lxml import etree

from pipelines.lib.nmbrs.errors import ReportContentError
from pipelines.lib.nmbrs.reports import DriftRecorder

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)
_DECLARATION = re.compile(rb"^(\xef\xbb\xbf)?\s*<\?xml[^>]*\?>")
_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")  # ASCII digits only: never fullwidth or other scripts
JOURNAL_VARIANTS = ("journals", "journalscostcenter", "journalsdepartment", "journalsemployee")
SIDES = ("debit", "credit")


@dataclass(frozen=True, slots=True)
class RunOutputLine:
    """One calculated wage component of one employee in one period of a payroll run."""

    company_id: str
    payroll_run_id: str
    run_number: int | None
    employee_id: str
    employee_number: int | None
    year: int
    period: int
    code: str
    description: str
    value: Decimal


@dataclass(frozen=True, slots=True)
class JournalLine:
    """One line of a payroll run's journal: an amount booked on a GL account as set up in Nmbrs."""

    company_id: str
    payroll_run_id: str
    variant: str  # journals | journalscostcenter | journalsdepartment | journalsemployee
    date: dt.date | None
    year: int
    period: int
    line_id: str | None
    account: str  # dim1
    dimension: str | None  # dim2: cost centre, department or employee number, by variant
    cost_unit: str | None  # dim3
    value: Decimal  # as written: not negative
    side: str  # debit | credit
    description: str | None

    @property
    def signed(self) -> Decimal:
        """Debit positive, credit negative: a balanced transaction sums to zero."""
        return self.value if self.side == "debit" else -self.value


def _local(element: etree._Element) -> str:
    return _local_name(element.tag)


def _local_name(tag: str) -> str:
    """`{namespace}Name` or `Name` → `name` (string work: etree.QName per element is slower)."""
    return tag.rpartition("}")[2].lower()


def _root(content: bytes, what: str) -> etree._Element:
    body = content.lstrip()
    if b"<!DOCTYPE" in body[:2048].upper():
        raise ReportContentError(
            f"the {what} holds a DOCTYPE, which is refused. Fix: report this file to Nmbrs"
        )
    try:
        return etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        stripped = _DECLARATION.sub(b"", body, count=1)
        if stripped == body:
            raise ReportContentError(
                f"the {what} is not well-formed XML ({exc}). Fix: run the sync again"
            ) from None
        try:
            return etree.fromstring(stripped, _PARSER)  # the declared encoding was not the real one
        except etree.XMLSyntaxError as again:
            raise ReportContentError(
                f"the {what} is not well-formed XML ({again}). Fix: run the sync again"
            ) from None


class _Reader:
    """Children of one element by lower-case name; the rest is drift, reported under `path`."""

    def __init__(self, element: etree._Element, path: str, known: set[str], drift: DriftRecorder | None):
        self.children: dict[str, list[etree._Element]] = {}
        for child in element:
            if not isinstance(child.tag, str):
                continue
            name = _local_name(child.tag)
            if name in known:
                self.children.setdefault(name, []).append(child)
            elif drift is not None:
                drift.record(f"{path}/{name}")
        self.path = path

    def all(self, name: str) -> list[etree._Element]:
        return self.children.get(name, [])

    def text(self, name: str, where: str, required: bool = True) -> str | None:
        found = self.all(name)
        value = (found[0].text or "").strip() if found else ""
        if not value and required:
            raise ReportContentError(
                f"the {where} has no <{name}>. Fix: the document does not match its layout"
            )
        return value or None

    def integer(self, name: str, where: str, required: bool = True) -> int | None:
        value = self.text(name, where, required)
        if value is None:
            return None
        if not value.lstrip("+-").isdigit():
            raise ReportContentError(f"<{name}> of the {where} is not a whole number ({value!r})")
        return int(value)

    def decimal(self, name: str, where: str) -> Decimal:
        value = self.text(name, where) or ""
        if not _DECIMAL.fullmatch(value):
            raise ReportContentError(
                f"<{name}> of the {where} is not a decimal with a dot (such as 2000.00). Fix: the document "
                "does not match its layout; report it to Nmbrs"
            )
        return Decimal(value)


_RUN_OUTPUT = {"companyid", "companynumber", "payrollrunid", "runnumber", "year", "employees"}
_EMPLOYEE = {"employeeid", "employeenumber", "periods"}
_PERIOD = {"year", "number", "wagecodes"}
_WAGECODE = {"code", "description", "value"}


def parse_run_output(
    content: bytes, company_id: str, payroll_run_id: str, drift: DriftRecorder | None = None
) -> list[RunOutputLine]:
    """Every wage-component line of a run output file."""
    what = f"run output of payroll run {payroll_run_id}"
    root = _root(content, what)
    top = _Reader(root, _local(root), _RUN_OUTPUT, drift)
    found_run = top.text("payrollrunid", what, required=False)
    if found_run and found_run.lower() != payroll_run_id.lower():
        raise ReportContentError(
            f"the {what} is the output of run {found_run}. Fix: the document does not match its request; "
            "run the sync again"
        )
    run_number = top.integer("runnumber", what, required=False)
    lines = []
    for employees in top.all("employees"):
        for element in _Reader(employees, "runoutput/employees", {"employee"}, drift).all("employee"):
            employee = _Reader(element, "runoutput/employee", _EMPLOYEE, drift)
            employee_id = employee.text("employeeid", f"employee of the {what}")
            where_employee = f"employee {employee_id} in the {what}"
            number = employee.integer("employeenumber", where_employee, required=False)
            for periods in employee.all("periods"):
                for item in _Reader(periods, "runoutput/periods", {"period"}, drift).all("period"):
                    period = _Reader(item, "runoutput/period", _PERIOD, drift)
                    year = period.integer("year", f"period of {where_employee}")
                    number_of_period = period.integer("number", f"period of {where_employee}")
                    where = f"period {number_of_period}/{year} of {where_employee}"
                    for codes in period.all("wagecodes"):
                        for code_element in _Reader(codes, "runoutput/wagecodes", {"wagecode"}, drift).all(
                            "wagecode"
                        ):
                            code, description, value = _wagecode(code_element, where, drift)
                            lines.append(
                                RunOutputLine(
                                    company_id=company_id,
                                    payroll_run_id=payroll_run_id,
                                    run_number=run_number,
                                    employee_id=employee_id,
                                    employee_number=number,
                                    year=year,
                                    period=number_of_period,
                                    code=code,
                                    description=description,
                                    value=value,
                                )
                            )
    return lines


def _wagecode(element: etree._Element, where: str, drift: DriftRecorder | None) -> tuple[str, str, Decimal]:
    """(code, description, value) of one `<wagecode>`, read as `_Reader` reads it (the first of each
    child counts, other children are drift) without building a reader per line: this is the inner
    loop of every run output."""
    found: dict[str, str] = {}
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        name = _local_name(tag)
        if name in _WAGECODE:
            if name not in found:
                found[name] = (child.text or "").strip()
        elif drift is not None:
            drift.record(f"runoutput/wagecode/{name}")
    code = found.get("code")
    if not code:
        raise ReportContentError(
            f"the wage code in {where} has no <code>. Fix: the document does not match its layout"
        )
    value = found.get("value", "")
    if not value:
        raise ReportContentError(
            f"the wage code {code} in {where} has no <value>. Fix: the document does not match its layout"
        )
    if not _DECIMAL.fullmatch(value):
        raise ReportContentError(
            f"<value> of the wage code {code} in {where} is not a decimal with a dot (such as 2000.00). Fix: "
            "the document does not match its layout; report it to Nmbrs"
        )
    return code, found.get("description") or "", Decimal(value)


_HEADER = {"date", "period"}
_LINE = {"dim1", "dim2", "dim3", "value", "debitcredit", "description"}


def _journal_period(text: str, where: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*([0-9]{1,2})\s*/\s*([0-9]{4})\s*", text)
    if not match:
        raise ReportContentError(f"the period of {where} is {text!r}, not period/year such as 3/2025")
    return int(match.group(2)), int(match.group(1))


def parse_journal(
    content: bytes, company_id: str, payroll_run_id: str, variant: str, drift: DriftRecorder | None = None
) -> list[JournalLine]:
    """Every line of a journal file, one transaction (header + lines) at a time."""
    what = f"{variant} of payroll run {payroll_run_id}"
    root = _root(content, what)
    lines = []
    for number, element in enumerate(
        _Reader(root, "transactions", {"transaction"}, drift).all("transaction"), 1
    ):
        transaction = _Reader(element, "transactions/transaction", {"header", "lines"}, drift)
        where = f"transaction {number} of the {what}"
        headers = transaction.all("header")
        if not headers:
            raise ReportContentError(f"{where} has no <header>. Fix: the document does not match its layout")
        header = _Reader(headers[0], "transaction/header", _HEADER, drift)
        year, period = _journal_period(header.text("period", where) or "", where)
        date_text = header.text("date", where, required=False)
        date = dt.date.fromisoformat(date_text[:10]) if date_text else None
        for block in transaction.all("lines"):
            for item in _Reader(block, "transaction/lines", {"line"}, drift).all("line"):
                line = _Reader(item, "transaction/line", _LINE, drift)
                line_id = item.get("id")
                where_line = f"line {line_id} of {where}"
                side = (line.text("debitcredit", where_line) or "").lower()
                if side not in SIDES:
                    raise ReportContentError(
                        f"<debitcredit> of {where_line} is {side!r}, not debit or credit"
                    )
                lines.append(
                    JournalLine(
                        company_id=company_id,
                        payroll_run_id=payroll_run_id,
                        variant=variant,
                        date=date,
                        year=year,
                        period=period,
                        line_id=line_id,
                        account=line.text("dim1", where_line) or "",
                        dimension=line.text("dim2", where_line, required=False),
                        cost_unit=line.text("dim3", where_line, required=False),
                        value=line.decimal("value", where_line),
                        side=side,
                        description=line.text("description", where_line, required=False),
                    )
                )
    return lines


def unbalanced(lines: list[JournalLine]) -> dict[tuple[int, int], Decimal]:
    """(year, period) -> debit minus credit, for every transaction period that does not balance."""
    totals: dict[tuple[int, int], Decimal] = {}
    for line in lines:
        key = (line.year, line.period)
        totals[key] = totals.get(key, Decimal("0")) + line.signed
    return {key: total for key, total in sorted(totals.items()) if total != 0}
