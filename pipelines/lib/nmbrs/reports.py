"""Streaming parser for Nmbrs report content (the wage-component-per-period and payslip reports).

Shape (../shared/nmbrs-contract.md):
`<reports><report><employeeid/><period/><year/>[<runid/>]<lines><line><code/><description/>
<value/></line>...</lines></report>...</reports>`

`iter_report_lines(source, kind=..., drift=...)` yields one `ReportLine` per `<line>`. It uses
lxml's iterparse filtered on `<report>`, so libxml2 builds one employee's report at a time and
every finished report is cleared: memory stays flat however big the report is.

- Numbers: a comma or a dot as decimal separator (thousands groups allowed), exact `Decimal`s,
  at most `MAX_ABS_VALUE` in magnitude (fits numeric(18,2)).
- A missing required element, or a string where a number belongs, raises ReportContentError naming
  the element, the employee, the period and the code (never the amount).
- An unknown element is counted in the `DriftRecorder` (names and counts only) and skipped.
- An empty document gives zero lines. DOCTYPEs (entity bombs, external entities) are refused.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from typing import IO, NamedTuple

from lxml import etree

from pipelines.lib.nmbrs.errors import ReportContentError

MAX_ABS_VALUE = Decimal("9999999999999999.99")  # numeric(18,2)
REPORT_FIELDS = {"employeeid", "period", "year", "lines"}
PAYSLIP_FIELDS = REPORT_FIELDS | {"runid"}
LINE_FIELDS = ("code", "description", "value")
KINDS = ("period", "payslip")


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


_DOT_DECIMAL = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+")
_COMMA_DECIMAL = re.compile(r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?|[+-]?,\d+")


def parse_decimal(text: str) -> Decimal:
    """'1234,56', '1.234,56', '1234.56', '1,234.56' -> Decimal('1234.56'). ValueError otherwise.

    A single separator is the decimal separator, whichever it is (Nmbrs writes '1234,56').
    """
    text = text.strip()
    if "," in text and ("." not in text or text.rfind(",") > text.rfind(".")):
        if text.count(",") == 1 and _COMMA_DECIMAL.fullmatch(text):
            return Decimal(text.replace(".", "").replace(",", "."))
        if "." not in text and _DOT_DECIMAL.fullmatch(text):  # '1,234,567': thousands only
            return Decimal(text.replace(",", ""))
        raise ValueError(text)
    if text.count(".") > 1 and "," not in text and _COMMA_DECIMAL.fullmatch(text):  # '1.234.567'
        return Decimal(text.replace(".", ""))
    if _DOT_DECIMAL.fullmatch(text):
        return Decimal(text.replace(",", ""))
    raise ValueError(text)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[1] if tag[0] == "{" else tag


class _Where:
    """Where in the report an error happened, for messages (ids and codes, never amounts)."""

    __slots__ = ("employee", "period", "code", "index")

    def __init__(self, index: int):
        self.index = index
        self.employee: str | None = None
        self.period: str | None = None
        self.code: str | None = None

    def __str__(self) -> str:
        parts = [f"report #{self.index}"]
        if self.employee is not None:
            parts.append(f"employee {self.employee}")
        if self.period is not None:
            parts.append(f"period {self.period}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        return ", ".join(parts)


def _int(element: str, text: str | None, where: _Where) -> int:
    try:
        return int((text or "").strip())
    except ValueError:
        raise ReportContentError(
            f"report content: <{element}> is not a whole number at {where}. "
            "Fix: the report format changed or is damaged; check the report in Nmbrs"
        ) from None


def _value(text: str | None, where: _Where) -> Decimal:
    try:
        value = parse_decimal(text or "")
    except (ValueError, InvalidOperation):
        raise ReportContentError(
            f"report content: <value> is not a number at {where}. "
            "Fix: the report format changed or is damaged; check the wage component in Nmbrs"
        ) from None
    if abs(value) > MAX_ABS_VALUE:
        raise ReportContentError(
            f"report content: <value> is out of range (more than 16 digits before the decimal separator) "
            f"at {where}. Fix: check the wage component in Nmbrs"
        )
    return value


def _missing(element: str, where: _Where) -> ReportContentError:
    return ReportContentError(
        f"report content: required element <{element}> is missing at {where}. "
        "Fix: the Nmbrs report format changed; update pipelines/lib/nmbrs/reports.py or report the change"
    )


class _Tracking(io.RawIOBase):
    """File-like view of the source that remembers whether any non-blank byte went by."""

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
        """Refuse a DOCTYPE before libxml2 sees it: no entity bomb, no external entity."""
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


def _chunks(source: bytes | str | IO | Iterable) -> Iterator[bytes]:
    if isinstance(source, str):
        source = source.encode("utf-8")
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        for start in range(0, len(data), 1 << 20):
            yield data[start : start + (1 << 20)]
        return
    read = getattr(source, "read", None)
    if read is not None:
        while chunk := read(1 << 16):
            yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk
        return
    for chunk in source:
        yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk


def iter_report_lines(
    source: bytes | str | IO | Iterable,
    *,
    kind: str = "period",
    drift: DriftRecorder | None = None,
    run_id: str | None = None,
    encoding: str | None = None,
) -> Iterator[ReportLine]:
    """Stream the lines of one report document (bytes, str, a binary/text file, or chunks).

    kind="payslip" also reads `<runid>` per report, falling back to `run_id` (the run the payslip
    report was requested for); kind="period" yields run_id=None. `encoding` overrides the
    document's declared encoding (the SOAP client passes re-encoded UTF-8).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    drift = drift if drift is not None else DriftRecorder()
    known = PAYSLIP_FIELDS if kind == "payslip" else REPORT_FIELDS
    stream = _Tracking(_chunks(source))
    events = etree.iterparse(
        stream,
        events=("end",),
        tag="{*}report",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        encoding=encoding,
        remove_comments=True,
        remove_pis=True,
    )
    index = 0
    root = None
    try:
        for _, report in events:
            if root is None:
                root = _check_root(report)
            index += 1
            yield from _report_lines(report, index, kind, known, drift, run_id)
            report.clear(keep_tail=True)
            parent = report.getparent()
            if parent is not None:
                while (previous := report.getprevious()) is not None:
                    if _local(previous.tag) != "report":
                        _record_subtree(previous, drift)
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        if not stream.saw_content:
            return  # an empty report: zero lines
        raise ReportContentError(
            f"report content is not well-formed XML ({_syntax_reason(exc)}). "
            "Fix: run the sync again; if it persists, the report is damaged in Nmbrs"
        ) from None
    if root is None:
        root = events.root
        if root is not None:
            _check_root(root)
    if root is not None and _local(root.tag) not in {"reports", "report"}:
        drift.record(_local(root.tag))
    if root is not None:
        for leftover in root:
            if _local(leftover.tag) != "report":
                _record_subtree(leftover, drift)


def _check_root(element) -> etree._Element:
    tree = element.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise ReportContentError(_DOCTYPE_REFUSED)
    return tree.getroot()


def _syntax_reason(exc: etree.XMLSyntaxError) -> str:
    line, column = exc.position if exc.position else (None, None)
    message = (exc.msg or "syntax error").split(",")[0]
    return f"{message} at line {line}, column {column}" if line else message


def _record_subtree(element, drift: DriftRecorder) -> None:
    for node in element.iter(tag=etree.Element):
        drift.record(_local(node.tag))


def _report_lines(report, index, kind, known, drift, default_run_id) -> Iterator[ReportLine]:
    where = _Where(index)
    employee = period = year = None
    lines = None
    run_id = default_run_id
    for child in report:
        tag = child.tag if child.tag[0] != "{" else _local(child.tag)
        if tag == "employeeid":
            where.employee = (child.text or "").strip()
            employee = _int("employeeid", child.text, where)
        elif tag == "period":
            where.period = (child.text or "").strip()
            period = _int("period", child.text, where)
        elif tag == "year":
            year = _int("year", child.text, where)
        elif tag == "lines":
            lines = child
        elif tag == "runid" and tag in known:
            run_id = (child.text or "").strip() or default_run_id
        else:
            _record_subtree(child, drift)
    for name, found in (("employeeid", employee), ("period", period), ("year", year)):
        if found is None:
            raise _missing(name, where)
    if kind == "payslip" and not run_id:
        raise _missing("runid", where)
    if lines is None:
        raise _missing("lines", where)
    for line in lines:
        if len(line) == 3:
            code_el, description_el, value_el = line
            if (code_el.tag, description_el.tag, value_el.tag) == LINE_FIELDS and line.tag == "line":
                code = (code_el.text or "").strip()
                if not code:
                    where.code = None
                    raise _missing("code", where)
                text = value_el.text or ""
                if "," in text and "." not in text:
                    text = text.replace(",", ".")
                try:
                    value = Decimal(text)
                    if not value.is_finite() or abs(value) > MAX_ABS_VALUE or "_" in text:
                        raise InvalidOperation
                except InvalidOperation:
                    where.code = code
                    value = _value(value_el.text, where)
                yield ReportLine(employee, year, period, code, description_el.text or "", value, run_id)
                continue
        if _local(line.tag) == "line":
            yield _slow_line(line, employee, year, period, run_id, where, drift)
        else:
            _record_subtree(line, drift)


def _slow_line(line, employee, year, period, run_id, where, drift) -> ReportLine:
    """A <line> that is not exactly <code/><description/><value/>: read it by name, record drift."""
    found: dict[str, str] = {}
    for child in line:
        tag = _local(child.tag)
        if tag in LINE_FIELDS and tag not in found:
            found[tag] = child.text or ""
        else:
            _record_subtree(child, drift)
    where.code = found.get("code", "").strip() or None
    for name in LINE_FIELDS:
        if name not in found or (name == "code" and not found[name].strip()):
            raise _missing(name, where)
    value = _value(found["value"], where)
    return ReportLine(employee, year, period, found["code"].strip(), found["description"], value, run_id)
