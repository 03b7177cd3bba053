"""Streaming parser for Nmbrs report content: the accountant wage-component report and the payslip report.

The two shapes (docs/nmbrs-api-soap.md):
- kind="period", `Reports_Accountant_Company_CompanyWageComponentsPerPeriod`: a root holding
  CompanyID, CompanyName, CompanyNumber, PeriodType and `EmployeesList/Employees {EmployeeID,
  EmployeeName, EmployeeNumber, WageComponentsList/WageComponents {ComponentGuid, ComponentNumber,
  ComponentName, CumulativeValue, Values/Value {ComponentValue, Period, Run}}}`. The report holds no
  year: the caller passes the year it asked for.
- kind="payslip", `Reports_GetPayslipByRunCompany_v2`: repeated `<payslip>` elements with employeeid,
  employeename, period, year, run, header, `lines/line {code, description, group, amount, value,
  betaling, tabel, bt, svw, svwbt, werkgever, cumulative}`, reservations, leave_list and footer. The
  money of a line is its `<value>`; the caller passes the run the report was asked for.

`iter_report_lines(source, kind=..., ...)` yields one `ReportLine` per amount, one record (`Employees`
or `payslip`) at a time: lxml iterparse on the record element, clearing as it goes, so memory stays
flat however big the report is.

- Encoding: report content arrives as text inside the SOAP envelope yet declares
  `<?xml version="1.0" encoding="utf-16"?>`, sometimes after a byte-order mark. The bytes are read as
  UTF-8 (or as the encoding the caller knows they have), and a declaration that contradicts them is
  dropped before the XML parser sees it.
- Amounts follow one grammar (`parse_value`). A value outside it, a missing required element or an
  element given twice raises ReportContentError naming the report, the element, where (record,
  employee, period, code) and the value.
- An unknown element is counted in the `DriftRecorder` (names and counts only) and skipped.
- An empty document gives zero lines. DOCTYPEs (entity bombs, external entities) are refused.
"""

from __future__ import annotations

import codecs
import io
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, NamedTuple

from lxml import etree

from pipelines.lib.nmbrs.errors import ReportContentError

MAX_ABS_VALUE = Decimal("9999999999999999.99")  # numeric(18,2)
KINDS = ("period", "payslip")
NO_VALUE = frozenset({"", "-"})  # how Nmbrs writes "no value" in a report
_AMOUNT = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?")  # [0-9], not \d: \d also matches fullwidth digits
_WHOLE = re.compile(r"[0-9]+")
_XML_SPACE = " \t\r\n"


class ReportLine(NamedTuple):
    employee_id: int
    year: int
    period: int
    code: str
    description: str
    value: Decimal
    run_id: str | None


class DriftRecorder:
    """Counts elements the parser does not know. Element names and counts only, never values."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def record(self, element: str, occurrences: int = 1) -> None:
        self.counts[element] += occurrences

    def __bool__(self) -> bool:
        return bool(self.counts)

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


def parse_value(text: str | None) -> Decimal | None:
    """A report amount: ASCII digits, at most one decimal separator (dot or comma), an optional sign.

    `-` or empty is "no value" (None). Anything else raises ValueError: an exponent (`1e5`),
    non-ASCII digits (`１２３`), thousands groups (`1.000,00`), NaN or Infinity, inner spaces.
    """
    stripped = (text or "").strip(_XML_SPACE)
    if stripped in NO_VALUE:
        return None
    if not _AMOUNT.fullmatch(stripped):
        raise ValueError(stripped)
    return Decimal(stripped.replace(",", "."))


class _Where:
    """Where in the report an error happened, for messages."""

    __slots__ = ("label", "noun", "index", "employee", "period", "code")

    def __init__(self, label: str, noun: str, index: int):
        self.label = label
        self.noun = noun
        self.index = index
        self.employee: str | None = None
        self.period: str | None = None
        self.code: str | None = None

    def __str__(self) -> str:
        parts = [f"{self.noun} #{self.index}"]
        if self.employee is not None:
            parts.append(f"employee {self.employee}")
        if self.period is not None:
            parts.append(f"period {self.period}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        return ", ".join(parts)

    def error(self, problem: str, fix: str) -> ReportContentError:
        return ReportContentError(f"{self.label}: {problem} at {self}. Fix: {fix}")


_FORMAT_FIX = (
    "the Nmbrs report format changed or the report is damaged; check the report in Nmbrs "
    "(docs/nmbrs-api-soap.md describes the shape this product reads)"
)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


@dataclass(frozen=True)
class _Request:
    """What the caller asked for, and where unknown elements are counted."""

    drift: DriftRecorder
    year: int | None
    run_id: str | None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[1] if tag[0] == "{" else tag


def _text(element: etree._Element | None) -> str:
    return "" if element is None or element.text is None else element.text.strip(_XML_SPACE)


def _record_subtree(element: etree._Element, drift: DriftRecorder) -> None:
    for node in element.iter(tag=etree.Element):
        drift.record(_local(node.tag))


def _fields(
    element: etree._Element,
    wanted: frozenset[str],
    known: frozenset[str],
    where: _Where,
    drift: DriftRecorder,
) -> dict[str, etree._Element]:
    """The wanted children by name (each at most once); known ones are skipped, others are drift."""
    found: dict[str, etree._Element] = {}
    for child in element.iterchildren(tag=etree.Element):
        name = _local(child.tag)
        if name in wanted:
            if name in found:
                raise where.error(
                    f"element <{name}> appears twice in one <{_local(element.tag)}>", _FORMAT_FIX
                )
            found[name] = child
        elif name not in known:
            _record_subtree(child, drift)
    return found


def _required(fields: dict[str, etree._Element], name: str, where: _Where) -> etree._Element:
    element = fields.get(name)
    if element is None:
        raise where.error(f"required element <{name}> is missing", _FORMAT_FIX)
    return element


def _whole(fields: dict[str, etree._Element], name: str, where: _Where) -> int:
    text = _text(_required(fields, name, where))
    if not _WHOLE.fullmatch(text):
        raise where.error(f"<{name}> {_shown(text)} is not a whole number", _FORMAT_FIX)
    return int(text)


def _code(fields: dict[str, etree._Element], name: str, where: _Where) -> str:
    code = _text(_required(fields, name, where))
    if not code:
        raise where.error(f"required element <{name}> is empty", _FORMAT_FIX)
    return code


def _amount(fields: dict[str, etree._Element], name: str, where: _Where) -> Decimal | None:
    raw = _required(fields, name, where).text or ""
    try:
        value = parse_value(raw)
    except ValueError:
        raise where.error(
            f"<{name}> value {_shown(raw.strip(_XML_SPACE))} is not an amount (amounts are ASCII digits "
            "with at most one decimal separator, a dot or a comma, and an optional sign; `-` or empty "
            "means no value)",
            "check this wage component in Nmbrs; a thousands separator, an exponent or non-ASCII digits "
            "are never read as a number",
        ) from None
    if value is not None and abs(value) > MAX_ABS_VALUE:
        raise where.error(
            f"<{name}> value {_shown(raw.strip(_XML_SPACE))} is out of range (more than 16 digits before "
            "the decimal separator)",
            "check this wage component in Nmbrs",
        )
    return value


_EMPLOYEE = frozenset({"EmployeeID", "WageComponentsList"})
_EMPLOYEE_KNOWN = frozenset({"EmployeeName", "EmployeeNumber"})
_COMPONENT = frozenset({"ComponentNumber", "ComponentName", "Values"})
_COMPONENT_KNOWN = frozenset({"ComponentGuid", "CumulativeValue"})
_VALUE = frozenset({"ComponentValue", "Period"})
_VALUE_KNOWN = frozenset({"Run"})  # the run that set the value; the loader keys on the period


def _period_lines(record: etree._Element, where: _Where, request: _Request) -> Iterator[ReportLine]:
    """One `Employees` record of the accountant wage-component report."""
    drift, year = request.drift, request.year
    employee = _fields(record, _EMPLOYEE, _EMPLOYEE_KNOWN, where, drift)
    employee_id = _whole(employee, "EmployeeID", where)
    where.employee = str(employee_id)
    components = employee.get("WageComponentsList")
    for component in () if components is None else components.iterchildren(tag=etree.Element):
        if _local(component.tag) != "WageComponents":
            _record_subtree(component, drift)
            continue
        where.period = where.code = None
        fields = _fields(component, _COMPONENT, _COMPONENT_KNOWN, where, drift)
        code = _code(fields, "ComponentNumber", where)
        where.code = code
        description = _text(fields.get("ComponentName"))
        values = fields.get("Values")
        for value in () if values is None else values.iterchildren(tag=etree.Element):
            plain = _plain_cell(value)
            if plain is not None:
                period, amount = plain
            elif _local(value.tag) == "Value":
                where.period = None
                cell = _fields(value, _VALUE, _VALUE_KNOWN, where, drift)
                period = _whole(cell, "Period", where)
                where.period = str(period)
                amount = _amount(cell, "ComponentValue", where)
            else:
                _record_subtree(value, drift)
                continue
            if amount is not None:
                yield ReportLine(employee_id, year, period, code, description, amount, None)


_PLAIN_CELL = ("ComponentValue", "Period", "Run")


def _plain_cell(value: etree._Element) -> tuple[int, Decimal | None] | None:
    """(period, amount) of a `<Value>` exactly as Nmbrs writes it, read without the general path's
    bookkeeping; None for anything else (the general path then reads it and words any error)."""
    if len(value) != 3 or value.tag != "Value":
        return None
    cell, period, run = value
    if (cell.tag, period.tag, run.tag) != _PLAIN_CELL or period.text is None or not period.text.isascii():
        return None
    if not period.text.isdigit():
        return None
    text = cell.text
    if text is None or text == "-":
        return int(period.text), None
    if not _AMOUNT.fullmatch(text):
        return None
    amount = Decimal(text.replace(",", "."))
    return (int(period.text), amount) if abs(amount) <= MAX_ABS_VALUE else None


_PAYSLIP = frozenset({"employeeid", "period", "year", "lines"})
_PAYSLIP_KNOWN = frozenset({"employeename", "run", "header", "reservations", "leave_list", "footer"})
_LINE = frozenset({"code", "description", "value"})
# The payslip's columns: quantity (`amount`), the amount per kind of wage, employer part, year to date.
_LINE_KNOWN = frozenset(
    {"group", "amount", "betaling", "tabel", "bt", "svw", "svwbt", "werkgever", "cumulative"}
)


def _payslip_lines(record: etree._Element, where: _Where, request: _Request) -> Iterator[ReportLine]:
    """One `<payslip>` of the payslip report: one employee, one period of the requested run."""
    drift = request.drift
    payslip = _fields(record, _PAYSLIP, _PAYSLIP_KNOWN, where, drift)
    employee_id = _whole(payslip, "employeeid", where)
    where.employee = str(employee_id)
    period = _whole(payslip, "period", where)
    where.period = str(period)
    year = _whole(payslip, "year", where)
    lines = _required(payslip, "lines", where)
    for line in lines.iterchildren(tag=etree.Element):
        if _local(line.tag) != "line":
            _record_subtree(line, drift)
            continue
        where.code = None
        fields = _fields(line, _LINE, _LINE_KNOWN, where, drift)
        code = _code(fields, "code", where)
        where.code = code
        amount = _amount(fields, "value", where)
        if amount is not None:
            yield ReportLine(
                employee_id, year, period, code, _text(fields.get("description")), amount, request.run_id
            )


@dataclass(frozen=True)
class _Shape:
    label: str  # the report, as messages name it
    noun: str  # one record, as messages name it
    record: str  # local name of the repeated record element
    context: frozenset[str]  # elements around the records that are not drift
    read: Callable[[etree._Element, _Where, _Request], Iterator[ReportLine]]


SHAPES = {
    "period": _Shape(
        "wage-component report",
        "employee record",
        "Employees",
        frozenset({"CompanyID", "CompanyName", "CompanyNumber", "PeriodType", "EmployeesList"}),
        _period_lines,
    ),
    "payslip": _Shape("payslip report", "payslip", "payslip", frozenset(), _payslip_lines),
}


def iter_report_lines(
    source: bytes | str | IO | Iterable,
    *,
    kind: str,
    drift: DriftRecorder | None = None,
    year: int | None = None,
    run_id: str | None = None,
    encoding: str | None = None,
) -> Iterator[ReportLine]:
    """Stream the lines of one report document (bytes, str, a binary/text file, or chunks).

    kind="period" needs `year` (the year the report was requested for); kind="payslip" needs
    `run_id` (the run it was requested for). `encoding` is the real encoding of the bytes when the
    caller knows it (the SOAP client passes "utf-8": it re-encodes the Content text); text input is
    UTF-8 by construction. A declared encoding that contradicts the bytes is ignored.
    """
    if kind not in SHAPES:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if kind == "period" and year is None:
        raise ValueError("the wage-component report holds no year: pass the year it was requested for")
    if kind == "payslip" and not run_id:
        raise ValueError("pass the run_id the payslip report was requested for")
    chunks, text = _chunks(source)
    request = _Request(
        drift if drift is not None else DriftRecorder(), year, run_id if kind == "payslip" else None
    )
    return _lines(_as_utf8(chunks, "utf-8" if text else encoding), SHAPES[kind], request)


def _chunks(source: bytes | str | IO | Iterable) -> tuple[Iterator[bytes], bool]:
    """The source as byte chunks, and whether it was text (then the bytes are UTF-8)."""
    if isinstance(source, str):
        return _slices(source.encode("utf-8")), True
    if isinstance(source, bytes | bytearray | memoryview):
        return _slices(bytes(source)), False
    read = getattr(source, "read", None)
    if read is not None:
        first = read(1 << 16)
        rest = iter(lambda: read(1 << 16), first[:0])
        return _encoded(itertools.chain([first], rest)), isinstance(first, str)
    items = iter(source)
    first = next(items, b"")
    return _encoded(itertools.chain([first], items)), isinstance(first, str)


def _slices(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), 1 << 20):
        yield data[start : start + (1 << 20)]


def _encoded(chunks: Iterator[bytes | str]) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk


_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_DECLARATION = re.compile(rb"<\?xml[ \t\r\n][^>]*?\?>")
_DECLARED_ENCODING = re.compile(rb"encoding[ \t\r\n]*=[ \t\r\n]*[\"']([^\"']*)[\"']")
_HEAD_BYTES = 1024


def _normal(encoding: str | bytes) -> str:
    text = encoding.decode("ascii", "replace") if isinstance(encoding, bytes) else encoding
    return text.lower().replace("-", "").replace("_", "")


def _as_utf8(chunks: Iterator[bytes], encoding: str | None) -> Iterator[bytes]:
    """The document as UTF-8 bytes without a byte-order mark or a false encoding declaration.

    The bytes' encoding is `encoding` when given, UTF-16 after a UTF-16 byte-order mark, else what the
    declaration says. A declaration that names another encoding than the bytes have (Nmbrs's
    `encoding="utf-16"` on text that reached us as UTF-8) is dropped; a true one (e.g. ISO-8859-1
    bytes declared so) is left to the XML parser.
    """
    head, chunks = _head(chunks)
    if encoding is None and head.startswith(_UTF16_BOMS):
        encoding = "utf-16"
    if encoding is not None and _normal(encoding) != "utf8":
        chunks = _transcoded(itertools.chain([head], chunks), encoding)
        head, chunks = _head(chunks)
        encoding = "utf-8"
    head = head.removeprefix(_UTF8_BOM)
    declaration = _DECLARATION.match(head)
    if declaration is not None:
        declared = _DECLARED_ENCODING.search(declaration.group())
        false_for_text = (
            encoding is not None and declared is not None and _normal(declared.group(1)) != "utf8"
        )
        utf16_on_8bit = declared is not None and _normal(declared.group(1)).startswith(
            ("utf16", "utf32", "ucs")
        )
        if false_for_text or utf16_on_8bit:
            head = head[declaration.end() :]
    yield head
    yield from chunks


def _head(chunks: Iterator[bytes]) -> tuple[bytes, Iterator[bytes]]:
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= _HEAD_BYTES:
            break
    return head, chunks


def _transcoded(chunks: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        for chunk in chunks:
            yield decoder.decode(chunk).encode("utf-8")
        yield decoder.decode(b"", final=True).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_well_formed(f"the bytes are not valid {encoding} ({exc.reason})") from None


class _Tracking(io.RawIOBase):
    """File-like view of the chunks that remembers whether any non-blank byte went by and refuses a
    DOCTYPE before libxml2 sees it: no entity bomb, no external entity."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._pending = b""
        self._head: bytes | None = b""
        self.saw_content = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._pending = chunk
        if size is None or size < 0 or size >= len(self._pending):
            out, self._pending = self._pending, b""
        else:
            out, self._pending = self._pending[:size], self._pending[size:]
        if not self.saw_content and out.strip():
            self.saw_content = True
        if self._head is not None:
            self._check_prolog(out)
        return out

    def _check_prolog(self, data: bytes) -> None:
        self._head += data
        root = _ELEMENT_START.search(self._head)
        prolog = self._head if root is None else self._head[: root.start()]
        if b"<!DOCTYPE" in prolog:
            raise ReportContentError(_DOCTYPE_REFUSED)
        if root is not None or len(self._head) > 1 << 16:
            self._head = None


_ELEMENT_START = re.compile(rb"<[^?!]")
_DOCTYPE_REFUSED = (
    "report content declares a DOCTYPE; DTDs and entities are refused (entity expansion and "
    "external entities are unsafe). Fix: Nmbrs reports carry no DOCTYPE; check what served this report"
)


def _lines(chunks: Iterator[bytes], shape: _Shape, request: _Request) -> Iterator[ReportLine]:
    """lxml iterparse filtered on the record element: one record's tree at a time."""
    stream = _Tracking(chunks)
    events = etree.iterparse(
        stream,
        events=("end",),
        tag=f"{{*}}{shape.record}",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    index = 0
    try:
        for _, record in events:
            if index == 0:
                _refuse_doctype(record)
            index += 1
            yield from shape.read(record, _Where(f"the {shape.label}", shape.noun, index), request)
            _discard(record, shape, request.drift)
    except etree.XMLSyntaxError as exc:
        if not stream.saw_content:
            return  # an empty report: zero lines
        raise _not_well_formed(_syntax_reason(exc)) from None
    root = events.root
    if root is not None:
        _refuse_doctype(root)
        _record_outside(root, shape, request.drift)


def _discard(record: etree._Element, shape: _Shape, drift: DriftRecorder) -> None:
    """Free a read record and its earlier siblings (counting the unknown ones as drift)."""
    record.clear(keep_tail=True)
    parent = record.getparent()
    if parent is None:
        return
    while (first := parent[0]) is not record:
        if isinstance(first.tag, str) and _local(first.tag) != shape.record:
            _record_outside(first, shape, drift, inside=False)
        del parent[0]


def _record_outside(
    element: etree._Element, shape: _Shape, drift: DriftRecorder, inside: bool = True
) -> None:
    """Drift among the elements around the records: anything not in the shape's context."""
    children = element.iterchildren(tag=etree.Element) if inside else iter((element,))
    for child in children:
        name = _local(child.tag)
        if name == shape.record:
            continue
        if name in shape.context:
            _record_outside(child, shape, drift)
        else:
            _record_subtree(child, drift)


def _refuse_doctype(element: etree._Element) -> None:
    info = element.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise ReportContentError(_DOCTYPE_REFUSED)


def _not_well_formed(reason: str) -> ReportContentError:
    return ReportContentError(
        f"report content is not well-formed XML ({reason}). "
        "Fix: run the sync again; if it persists, the report is damaged in Nmbrs"
    )


def _syntax_reason(exc: etree.XMLSyntaxError) -> str:
    line, column = exc.position if exc.position else (None, None)
    message = (exc.msg or "syntax error").split(",")[0]
    return f"{message} at line {line}, column {column}" if line else message
