"""The streaming report parser: exact decimals, drift, clear errors, hostile XML, bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from pipelines.lib.nmbrs.errors import ReportContentError
from pipelines.lib.nmbrs.reports import DriftRecorder, ReportLine, iter_report_lines, parse_decimal


def report(*reports: str) -> str:
    return '<?xml version="1.0" encoding="utf-8"?>\n<reports>' + "".join(reports) + "</reports>"


def employee(emp: int, period: int, lines: str, year: int = 2024, extra: str = "") -> str:
    return (
        f"<report><employeeid>{emp}</employeeid><period>{period}</period><year>{year}</year>{extra}"
        f"<lines>{lines}</lines></report>"
    )


def line(code: str, value: str, description: str = "Salaris", extra: str = "") -> str:
    return f"<line><code>{code}</code><description>{description}</description><value>{value}</value>{extra}</line>"


def test_comma_and_dot_decimals_are_exact():
    xml = report(
        employee(7, 3, line("1000", "3250,45") + line("1100", "260.04") + line("4000", "-1.234,56")),
        employee(8, 3, line("1000", "1,234.50") + line("9000", "0,01") + line("5000", "1.234.567")),
    )
    lines = list(iter_report_lines(xml))
    assert [ln.value for ln in lines] == [
        Decimal("3250.45"),
        Decimal("260.04"),
        Decimal("-1234.56"),
        Decimal("1234.50"),
        Decimal("0.01"),
        Decimal("1234567"),
    ]
    assert sum(ln.value for ln in lines) == Decimal("1238077.44")
    assert lines[0] == ReportLine(7, 2024, 3, "1000", "Salaris", Decimal("3250.45"), None)


@pytest.mark.parametrize("text", ["abc", "12,34,56", "1.2.3,4,5", "NaN", "Infinity", "1_000", "", "12 34"])
def test_parse_decimal_rejects_non_numbers(text):
    with pytest.raises(ValueError):
        parse_decimal(text)


def test_input_shapes_bytes_text_file_and_chunks(tmp_path):
    xml = report(employee(1, 1, line("1000", "10,00")))
    path = tmp_path / "r.xml"
    path.write_text(xml, encoding="utf-8")
    expected = list(iter_report_lines(xml))
    assert list(iter_report_lines(xml.encode())) == expected
    with path.open("rb") as binary:
        assert list(iter_report_lines(binary)) == expected
    with path.open("r", encoding="utf-8") as text:
        assert list(iter_report_lines(text)) == expected
    assert list(iter_report_lines(iter([xml[:17], xml[17:40], xml[40:]]))) == expected


def test_unknown_elements_are_recorded_as_drift_and_the_load_continues():
    drift = DriftRecorder()
    xml = report(
        employee(
            1,
            1,
            line("1000", "10,00", extra="<costcenter>K1</costcenter>"),
            extra="<department>x</department>",
        ),
        employee(2, 1, line("1000", "20,00", extra="<costcenter>K2</costcenter>")),
        "<summary><total>30,00</total></summary>",
    )
    lines = list(iter_report_lines(xml, drift=drift))
    assert [ln.value for ln in lines] == [Decimal("10.00"), Decimal("20.00")]
    assert drift.as_dict() == {"costcenter": 2, "department": 1, "summary": 1, "total": 1}
    assert "K1" not in json.dumps(drift.as_dict())


def test_missing_required_element_names_it():
    xml = report(employee(7, 3, "<line><code>1000</code><description>Salaris</description></line>"))
    with pytest.raises(ReportContentError) as err:
        list(iter_report_lines(xml))
    message = str(err.value)
    assert (
        "<value>" in message and "employee 7" in message and "period 3" in message and "code 1000" in message
    )

    xml = report("<report><period>3</period><year>2024</year><lines/></report>")
    with pytest.raises(ReportContentError, match="<employeeid> is missing"):
        list(iter_report_lines(xml))


def test_string_where_a_number_belongs_names_element_employee_period_and_code():
    xml = report(employee(7, 3, line("1000", "3250,45") + line("1100", "twelve")))
    with pytest.raises(ReportContentError) as err:
        list(iter_report_lines(xml))
    message = str(err.value)
    assert "<value> is not a number" in message
    assert "employee 7" in message and "period 3" in message and "code 1100" in message
    assert "twelve" not in message  # amounts (personal data) are never echoed

    with pytest.raises(ReportContentError, match=r"<period> is not a whole number at report #1, employee 7"):
        list(iter_report_lines(report(employee(7, "maart", line("1000", "1")))))  # type: ignore[arg-type]


def test_value_past_numeric_range_is_refused():
    xml = report(employee(7, 3, line("1000", "123456789012345678,00")))
    with pytest.raises(ReportContentError, match="out of range.*employee 7, period 3, code 1000"):
        list(iter_report_lines(xml))
    # the largest numeric(18,2) value still loads
    assert next(
        iter_report_lines(report(employee(7, 3, line("1000", "9999999999999999,99"))))
    ).value == Decimal("9999999999999999.99")


@pytest.mark.parametrize(
    "content", [b"", "   \n", "<reports/>", report(), '<?xml version="1.0"?><reports></reports>']
)
def test_empty_report_gives_zero_lines(content):
    drift = DriftRecorder()
    assert list(iter_report_lines(content, drift=drift)) == []
    assert not drift


def test_payslip_reports_carry_the_run_id():
    xml = report(
        employee(1, 2, line("1000", "5,00"), extra="<runid>88</runid>"), employee(2, 2, line("1000", "6,00"))
    )
    lines = list(iter_report_lines(xml, kind="payslip", run_id="77"))
    assert [ln.run_id for ln in lines] == ["88", "77"]
    with pytest.raises(ReportContentError, match="<runid> is missing"):
        list(iter_report_lines(report(employee(2, 2, line("1000", "6,00"))), kind="payslip"))


def test_truncated_report_is_a_clear_error():
    xml = report(employee(1, 1, line("1000", "1,00")), employee(2, 1, line("1000", "2,00")))
    with pytest.raises(ReportContentError, match="not well-formed"):
        list(iter_report_lines(xml[: len(xml) - 30]))


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lollollollollollollollollollol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<reports><report><employeeid>1</employeeid><period>1</period><year>2024</year><lines>
<line><code>1000</code><description>&lol9;</description><value>1,00</value></line></lines></report></reports>"""


def test_entity_bomb_is_refused_quickly():
    started = time.monotonic()
    with pytest.raises(ReportContentError, match="DOCTYPE"):
        list(iter_report_lines(BOMB))
    assert time.monotonic() - started < 2


def test_external_entity_is_refused_and_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xml = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<reports><report><employeeid>1</employeeid><period>1</period><year>2024</year><lines>"
        "<line><code>1000</code><description>&x;</description><value>1,00</value></line></lines></report></reports>"
    )
    with pytest.raises(ReportContentError) as err:
        list(iter_report_lines(xml))
    assert "TOP-SECRET" not in str(err.value)


MEASURE = """
import resource, sys
from pipelines.lib.nmbrs.reports import iter_report_lines
from pipelines.lib.nmbrs.errors import ReportContentError
kind, size = sys.argv[1], int(sys.argv[2])
def huge_text():
    yield b"<reports><report><employeeid>1</employeeid><period>1</period><year>2024</year><lines><line><code>1</code><description>"
    block = b"A" * (1 << 20)
    for _ in range(size):
        yield block
    yield b"</description><value>1</value></line></lines></report></reports>"
def many_lines():
    yield b"<reports>"
    body = b"".join(
        b"<line><code>%d</code><description>Salaris</description><value>%d,%02d</value></line>" % (c, c * 7, c % 100)
        for c in range(10)
    )
    for emp in range(size // 10):
        yield b"<report><employeeid>%d</employeeid><period>1</period><year>2024</year><lines>%s</lines></report>" % (emp, body)
    yield b"</reports>"
outcome = "ok"
count = 0
try:
    for _ in iter_report_lines(huge_text() if kind == "text" else many_lines()):
        count += 1
except ReportContentError as exc:
    outcome = "refused: " + str(exc)[:80]
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, count, outcome)
"""


def _measure(kind: str, size: int) -> tuple[int, int, str]:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, kind, str(size)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout.split(maxsplit=2)
    return int(out[0]), int(out[1]), out[2].strip()


def test_a_100_mb_text_node_is_bounded():
    baseline_kb, _, _ = _measure("text", 1)
    peak_kb, count, outcome = _measure("text", 100)
    assert count == 0 and outcome.startswith("refused"), outcome
    assert peak_kb - baseline_kb < 40 * 1024, f"peak RSS grew by {(peak_kb - baseline_kb) // 1024} MB"


def test_peak_memory_stays_flat_as_the_report_grows():
    small_kb, small_count, _ = _measure("lines", 10_000)
    big_kb, big_count, _ = _measure("lines", 300_000)
    assert (small_count, big_count) == (10_000, 300_000)
    assert big_kb <= small_kb * 1.5, f"peak RSS {small_kb} kB at 10k lines, {big_kb} kB at 300k lines"


PLAIN = report(
    employee(
        1,
        1,
        line("1000", "3250,45") + line("4000", "-12.5", description="Loonheffing &amp; &#233;&#x20AC;&#128;"),
    ),
    employee(2, 1, line("1000", "1.234,56", description="")),
)
VARIANTS = {
    "plain": PLAIN,
    "pretty": PLAIN.replace("<line>", "\n    <line>").replace("<report>", "\n  <report>"),
    "crlf": PLAIN.replace("<lines>", "\r\n<lines>"),
    "comment": PLAIN.replace("<lines>", "<!-- </report> --><lines>"),
    "cdata": PLAIN.replace(
        "<description>Salaris</description>", "<description><![CDATA[Sal<aris]]></description>"
    ),
    "pi": PLAIN.replace("<reports>", "<reports><?nmbrs x?>"),
    "attributes": PLAIN.replace("<value>", '<value currency="EUR">'),
    "namespaced": PLAIN.replace("<reports>", '<reports xmlns="urn:nmbrs">'),
    "prefixed block": PLAIN.replace("<report>", '<n:report xmlns:n="urn:n">', 1).replace(
        "</report>", "</n:report>", 1
    ),
    "drift in a line": PLAIN.replace("</value>", "</value><costcenter>K1</costcenter>"),
    "drift between reports": PLAIN.replace("</report><report>", "</report><summary>1</summary><report>"),
    "drift after reports": PLAIN.replace("</reports>", "<total>1</total></reports>"),
    "runid in a period report": PLAIN.replace("<lines>", "<runid>5</runid><lines>"),
    "self-closing": PLAIN.replace("<description></description>", "<description/>"),
    "spaces in numbers": PLAIN.replace("<employeeid>2</employeeid>", "<employeeid> 2 </employeeid>"),
    "empty lines": report(
        employee(1, 1, ""),
        "<report><employeeid>2</employeeid><period>1</period><year>2024</year><lines/></report>",
    ),
    "missing value": PLAIN.replace("<value>3250,45</value>", ""),
    "text value": PLAIN.replace("3250,45", "n/a"),
    "empty code": PLAIN.replace("<code>1000</code>", "<code></code>", 1),
    "huge value": PLAIN.replace("3250,45", "99999999999999999"),
    "truncated": PLAIN[:-40],
    "no declaration": PLAIN.split("\n", 1)[1],
    "latin-1": PLAIN.replace('encoding="utf-8"', 'encoding="iso-8859-1"'),
    "bom": "\ufeff" + PLAIN,
}


def _outcome(lines_iter, drift):
    try:
        return list(lines_iter), drift.as_dict()
    except ReportContentError as exc:
        message = str(exc)
        if message.startswith("report content is not well-formed XML"):
            return type(exc), "not well-formed"  # expat and libxml2 word the reason differently
        return type(exc), message


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("chunk", [7, 1 << 16])
@pytest.mark.parametrize("kind", ["period", "payslip"])
def test_fast_path_gives_exactly_what_the_general_path_gives(name, chunk, kind):
    from pipelines.lib.nmbrs.reports import _chunks, _tree_lines

    data = VARIANTS[name].encode("iso-8859-1" if name == "latin-1" else "utf-8")
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    fast_drift, general_drift = DriftRecorder(), DriftRecorder()
    fast = _outcome(iter_report_lines(iter(pieces), kind=kind, drift=fast_drift, run_id="9"), fast_drift)
    run_id = "9" if kind == "payslip" else None
    general = _outcome(_tree_lines(_chunks(data), kind, general_drift, run_id), general_drift)
    assert fast == general


def test_the_plain_nmbrs_shape_takes_the_fast_path(monkeypatch):
    from pipelines.lib.nmbrs import reports

    def general_path_used(*args, **kwargs):
        raise AssertionError("the plain shape fell back to the general path")

    monkeypatch.setattr(reports, "_tree_lines", general_path_used)
    monkeypatch.setattr(reports, "_BLOCK_PARSER", None)  # a block fallback would fail too
    lines = list(iter_report_lines(PLAIN))
    assert [ln.value for ln in lines] == [Decimal("3250.45"), Decimal("-12.5"), Decimal("1234.56")]
    assert lines[1].description == "Loonheffing & é€\x80"
