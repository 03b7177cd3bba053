"""Streaming parser for Nmbrs report content (the wage-component-per-period and payslip reports).

Shape (docs/nmbrs-api.md):
`<reports><report><employeeid/><period/><year/>[<runid/>]<lines><line><code/><description/>
<value/></line>...</lines></report>...</reports>`

`iter_report_lines(source, kind=..., drift=...)` yields one `ReportLine` per `<line>`, one
employee's report at a time, so memory stays flat however big the report is. Two paths give the
same result (a differential test holds them to it):
- the fast path (`_FastScanner`) for the plain shape Nmbrs writes: expat checks well-formedness in
  C and refuses DTDs; a strict regex reads each `<report>` block expat has seen;
- the general path (`_tree_lines`): lxml iterparse filtered on `<report>`, clearing as it goes. It
  takes over for any other shape (whitespace, attributes, comments, CDATA, other encodings, drift).

- Numbers: a comma or a dot as decimal separator (thousands groups allowed), exact `Decimal`s,
  at most `MAX_ABS_VALUE` in magnitude (fits numeric(18,2)).
- A missing required element, or a string where a number belongs, raises ReportContentError naming
  the element, the employee, the period and the code (never the amount).
- An unknown element is counted in the `DriftRecorder` (names and counts only) and skipped.
- An empty document gives zero lines. DOCTYPEs (entity bombs, external entities) are refused.
"""

from __future__ import annotations

import functools
import io
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from typing import IO, NamedTuple
from xml.parsers import expat

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
    run_id = run_id if kind == "payslip" else None
    chunks = _chunks(source)
    if encoding is not None and encoding.lower().replace("-", "") != "utf8":
        return _tree_lines(chunks, kind, drift, run_id, encoding)
    return _FastScanner(kind, drift, run_id).lines(chunks)


def _tree_lines(
    chunks: Iterator[bytes],
    kind: str,
    drift: DriftRecorder,
    run_id: str | None,
    encoding: str | None = None,
    first_index: int = 1,
) -> Iterator[ReportLine]:
    """The general path: lxml iterparse filtered on <report>, one report's tree at a time."""
    known = PAYSLIP_FIELDS if kind == "payslip" else REPORT_FIELDS
    stream = _Tracking(chunks)
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
    index = first_index - 1
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
                while (first := parent[0]) is not report:
                    if _local(first.tag) != "report":
                        _record_subtree(first, drift)
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        if not stream.saw_content:
            return  # an empty report: zero lines
        raise _not_well_formed(_syntax_reason(exc)) from None
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


def _not_well_formed(reason: str) -> ReportContentError:
    return ReportContentError(
        f"report content is not well-formed XML ({reason}). "
        "Fix: run the sync again; if it persists, the report is damaged in Nmbrs"
    )


_PROLOG = re.compile(rb"(?:\xef\xbb\xbf)?\s*(?:<\?xml\s[^>]*\?>)?\s*<reports>")
_PROLOG_ENCODING = re.compile(rb"<\?xml\s[^>]*encoding\s*=\s*[\"']([^\"']*)[\"']")
_EPILOG = re.compile(rb"\s*</reports>\s*")
_REPORT = re.compile(
    rb"<report><employeeid>(\d+)</employeeid><period>(\d+)</period><year>(\d+)</year>"
    rb"(?:<runid>(\d+)</runid>)?<lines>(.*)</lines></report>",
    re.DOTALL,
)
_LINE = re.compile(
    r"<line><code>([^<&\s]+)</code><description>([^<]*)</description><value>([^<&]*)</value></line>"
)
LINE_MARKUP = len("<line><code></code><description></description><value></value></line>")
_BLOCK_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)
MAX_PENDING = 8 << 20  # bytes buffered while looking for </report>


class _FastScanner:
    """The fast path for the plain shape Nmbrs writes (no attributes, comments, CDATA, whitespace).

    expat checks the whole document (well-formedness, no DOCTYPE) in C; a strict regex then reads
    each <report> block that expat has seen. A block of any other shape is parsed by lxml on its
    own, and anything unusual between blocks hands the rest of the document to `_tree_lines`, so
    the result is always the general path's.
    """

    def __init__(self, kind: str, drift: DriftRecorder, run_id: str | None):
        self.kind = kind
        self.known = PAYSLIP_FIELDS if kind == "payslip" else REPORT_FIELDS
        self.drift = drift
        self.run_id = run_id
        self.index = 0
        self.validator = expat.ParserCreate()
        self.validator.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self.validator.StartDoctypeDeclHandler = self._refuse_doctype
        self.validator.EntityDeclHandler = self._refuse_doctype

    @staticmethod
    def _refuse_doctype(*_args) -> None:
        raise ReportContentError(_DOCTYPE_REFUSED)

    def _validate(self, data: bytes, final: bool = False) -> None:
        try:
            self.validator.Parse(data, final)
        except expat.ExpatError as exc:
            raise _not_well_formed(
                f"{expat.ErrorString(exc.code)} at line {exc.lineno}, column {exc.offset}"
            ) from None

    def _general(self, pending: bytes, chunks: Iterator[bytes], synthetic_root: bool) -> Iterator[ReportLine]:
        head = [b"<reports>", pending] if synthetic_root else [pending]
        return _tree_lines(
            itertools.chain(head, chunks), self.kind, self.drift, self.run_id, None, self.index + 1
        )

    def lines(self, chunks: Iterator[bytes]) -> Iterator[ReportLine]:
        buf = b""
        for chunk in chunks:
            buf += chunk
            if len(buf) >= 512 or b"<reports>" in buf:
                break
        prolog = _PROLOG.match(buf)
        declared = _PROLOG_ENCODING.match(buf.lstrip(b"\xef\xbb\xbf"))
        if (
            prolog is None
            or (
                declared
                and declared.group(1).lower().replace(b"-", b"") not in (b"utf8", b"ascii", b"usascii")
            )
            or b"<!" in buf[: prolog.end()]
        ):
            yield from self._general(buf, chunks, synthetic_root=False)
            return
        self._validate(buf)
        pos = prolog.end()
        for chunk in itertools.chain([b""], chunks):
            if chunk:
                self._validate(chunk)
                buf = buf[pos:] + chunk
                pos = 0
            while True:
                close = buf.find(b"</report>", pos)
                if close < 0:
                    break
                start = buf.find(b"<report>", pos, close)
                block = buf[start : close + 9] if start >= 0 else b""
                if start < 0 or buf[pos:start].strip() or b"<!" in block or b"<?" in block or b"\r" in block:
                    yield from self._general(buf[pos:], chunks, synthetic_root=True)
                    return
                self.index += 1
                yield from self._block(block)
                pos = close + 9
            if len(buf) - pos > MAX_PENDING:
                yield from self._general(buf[pos:], chunks, synthetic_root=True)
                return
        self._validate(b"", True)
        rest = buf[pos:]
        if not _EPILOG.fullmatch(rest):
            yield from self._general(rest, iter(()), synthetic_root=True)

    def _block(self, block: bytes) -> list[ReportLine]:
        match = _REPORT.fullmatch(block)
        if match is not None and (match.group(4) is None or self.kind == "payslip"):
            content = match.group(5).decode()
            lines = _LINE.findall(content)
            if sum(map(len, itertools.chain.from_iterable(lines))) + LINE_MARKUP * len(lines) == len(content):
                return self._plain_lines(match, lines)
        element = etree.fromstring(b"<reports>" + block + b"</reports>", _BLOCK_PARSER)[0]
        return list(_report_lines(element, self.index, self.kind, self.known, self.drift, self.run_id))

    def _plain_lines(self, match: re.Match, lines: list[tuple[str, str, str]]) -> list[ReportLine]:
        employee, period, year = int(match.group(1)), int(match.group(2)), int(match.group(3))
        run_id = match.group(4).decode() if match.group(4) is not None else self.run_id
        if self.kind == "payslip" and not run_id:
            raise _missing("runid", _where(self.index, employee, period))
        out = []
        append = out.append
        for code, description, value_text in lines:
            text = value_text.replace(",", ".") if "," in value_text and "." not in value_text else value_text
            try:
                value = Decimal(text)
                if not value.is_finite() or abs(value) > MAX_ABS_VALUE or "_" in text:
                    raise InvalidOperation
            except InvalidOperation:
                value = _value(value_text, _where(self.index, employee, period, code))
            append(
                ReportLine(
                    employee,
                    year,
                    period,
                    code,
                    _unescape(description) if "&" in description else description,
                    value,
                    run_id,
                )
            )
        return out


_REFERENCE = re.compile(r"&(?:#x([0-9a-fA-F]+)|#([0-9]+)|(amp|lt|gt|quot|apos));")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_PREDEFINED = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&"))  # &amp; last


@functools.lru_cache(maxsize=4096)  # descriptions repeat for every employee and period
def _unescape(text: str) -> str:
    """XML's predefined and character references (expat has already refused any other)."""
    if "&#" in text:
        return _REFERENCE.sub(
            lambda m: chr(int(m[1], 16)) if m[1] else chr(int(m[2])) if m[2] else _NAMED[m[3]], text
        )
    for reference, character in _PREDEFINED:
        text = text.replace(reference, character)
    return text


def _where(index: int, employee: int, period: int, code: str | None = None) -> _Where:
    where = _Where(index)
    where.employee, where.period, where.code = str(employee), str(period), code
    return where


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
