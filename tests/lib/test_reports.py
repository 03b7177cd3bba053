"""The streaming report parser: both report shapes, utf-16 declarations, the value grammar, drift,
clear errors, hostile XML, bounded memory."""

from __future__ import annotations

import codecs
import json
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from pipelines.lib.nmbrs.errors import ReportContentError
from pipelines.lib.nmbrs.reports import DriftRecorder, ReportLine, iter_report_lines, parse_value

UTF16 = '<?xml version="1.0" encoding="utf-16"?>'


def value(amount: str, period: int | str = 1, run: int = 1) -> str:
    return (
        f"<Value><ComponentValue>{amount}</ComponentValue><Period>{period}</Period><Run>{run}</Run></Value>"
    )


def component(code: str, values: str, name: str = "Salaris", extra: str = "") -> str:
    return (
        f"<WageComponents><ComponentGuid>0c5a4d1e-7b8f-4f5c-9a3e-2d6b1c8e4f70</ComponentGuid>"
        f"<ComponentNumber>{code}</ComponentNumber><ComponentName>{name}</ComponentName>"
        f"<CumulativeValue>0</CumulativeValue>{extra}<Values>{values}</Values></WageComponents>"
    )


def employee(emp: int | str, components: str, extra: str = "") -> str:
    return (
        f"<Employees><EmployeeID>{emp}</EmployeeID><EmployeeName>A. de Vries</EmployeeName>"
        f"<EmployeeNumber>E{emp}</EmployeeNumber>{extra}<WageComponentsList>{components}"
        "</WageComponentsList></Employees>"
    )


def period_report(*employees: str, declaration: str = UTF16, after: str = "") -> str:
    return (
        f"{declaration}<ReportCompanyEmployeeWageComponent><CompanyID>101</CompanyID><CompanyName>Bakkerij"
        "</CompanyName><CompanyNumber>1</CompanyNumber><PeriodType>Month</PeriodType><EmployeesList>"
        + "".join(employees)
        + f"</EmployeesList>{after}</ReportCompanyEmployeeWageComponent>"
    )


def line(code: str, amount: str, description: str = "Salaris", extra: str = "") -> str:
    return (
        f"<line><code>{code}</code><description>{description}</description><group>Bruto</group>"
        f"<amount/><value>{amount}</value><betaling/><tabel/><bt/><svw/><svwbt/><werkgever/>"
        f"<cumulative/>{extra}</line>"
    )


def payslip(emp: int, period: int, lines: str, year: int = 2024, extra: str = "") -> str:
    return (
        f"<payslip><employeeid>{emp}</employeeid><employeename>A. de Vries</employeename>"
        f"<period>{period}</period><year>{year}</year><run>2</run><header><headerItem><key>Bedrijf</key>"
        f"<value>Bakkerij</value></headerItem></header>{extra}<lines>{lines}</lines><reservations/>"
        "<leave_list/><footer><footerItem><key>Fiscaalloon</key><value>1,00</value></footerItem></footer>"
        "</payslip>"
    )


def payslips(*items: str, declaration: str = UTF16) -> str:
    return f"{declaration}<payslips>{''.join(items)}</payslips>"


def period_lines(source, **kwargs) -> list[ReportLine]:
    return list(iter_report_lines(source, kind="period", year=2024, **kwargs))


def payslip_lines(source, **kwargs) -> list[ReportLine]:
    return list(iter_report_lines(source, kind="payslip", run_id="77", **kwargs))


def test_the_accountant_report_gives_one_line_per_amount_and_skips_no_value():
    xml = period_report(
        employee(
            7,
            component("1000", value("3250,45", 1) + value("-", 2) + value("", 3) + value("3300.00", 4))
            + component("4100", value("", 1) + "<Value><ComponentValue/><Period>2</Period></Value>"),
        ),
        employee(8, component("1000", value("-0,01", 4), name="Salaris &amp; co")),
    )
    lines = period_lines(xml)
    assert lines == [
        ReportLine(7, 2024, 1, "1000", "Salaris", Decimal("3250.45"), None),
        ReportLine(7, 2024, 4, "1000", "Salaris", Decimal("3300.00"), None),
        ReportLine(8, 2024, 4, "1000", "Salaris & co", Decimal("-0.01"), None),
    ]


def test_the_payslip_report_carries_the_requested_run_and_skips_no_value():
    xml = payslips(
        payslip(7, 3, line("1000", "3250,45") + line("4100", "-") + line("4200", "")),
        payslip(8, 3, line("9000", "+12.50", description="Nettoloon")),
    )
    drift = DriftRecorder()
    assert payslip_lines(xml, drift=drift) == [
        ReportLine(7, 2024, 3, "1000", "Salaris", Decimal("3250.45"), "77"),
        ReportLine(8, 2024, 3, "9000", "Nettoloon", Decimal("12.50"), "77"),
    ]
    assert not drift, "header, footer, reservations, leave_list and the line columns are known elements"


@pytest.mark.parametrize("bom", ["", "\ufeff"], ids=["no byte-order mark", "byte-order mark"])
def test_a_utf16_declaration_on_text_is_read_as_the_text_it_is(bom):
    """The content arrives as text inside the SOAP envelope: the declared utf-16 is false for its bytes."""
    xml = bom + period_report(employee(7, component("1000", value("3250,45"), name="Vakantie€ toeslag é")))
    expected = [ReportLine(7, 2024, 1, "1000", "Vakantie€ toeslag é", Decimal("3250.45"), None)]
    assert period_lines(xml) == expected  # str
    assert period_lines(xml.encode("utf-8")) == expected  # the bytes the SOAP client sees
    assert period_lines(xml.encode("utf-8"), encoding="utf-8") == expected
    data = xml.encode("utf-8")
    assert period_lines(iter([data[i : i + 1] for i in range(len(data))])) == expected  # split anywhere
    assert period_lines(codecs.BOM_UTF16_LE + xml.lstrip("\ufeff").encode("utf-16-le")) == expected
    assert payslip_lines(bom + payslips(payslip(7, 1, line("1000", "1,00")))) == [
        ReportLine(7, 2024, 1, "1000", "Salaris", Decimal("1.00"), "77")
    ]


def test_a_true_declaration_is_honoured():
    xml = period_report(
        employee(7, component("1000", value("1,00"), name="Vakantietoeslag é")),
        declaration='<?xml version="1.0" encoding="iso-8859-1"?>',
    )
    assert period_lines(xml.encode("iso-8859-1"))[0].description == "Vakantietoeslag é"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3250,45", "3250.45"),
        ("3250.45", "3250.45"),
        ("-1,5", "-1.5"),
        ("+0.01", "0.01"),
        (" 12 ", "12"),
        ("\n\t9999999999999999,99", "9999999999999999.99"),
        ("-", None),
        ("", None),
        ("  ", None),
    ],
)
def test_value_grammar_accepts(text, expected):
    assert parse_value(text) == (None if expected is None else Decimal(expected))


REFUSED_VALUES = [
    "1e5",
    "1E5",
    "１２３",
    "٣٤",
    "1.000,00",
    "1,234.56",
    "1.234.567",
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "1_000",
    "12 34",
    "0x10",
    "€ 12",
    "12-",
    "--1",
    ".5",
    "5.",
    "abc",
]


@pytest.mark.parametrize("text", REFUSED_VALUES)
def test_value_grammar_refuses(text):
    with pytest.raises(ValueError):
        parse_value(text)


@pytest.mark.parametrize("text", ["1e5", "１２３", "1.000,00", "NaN", "Infinity"])
def test_a_refused_value_names_the_report_the_element_where_and_the_value(text):
    with pytest.raises(ReportContentError) as err:
        period_lines(period_report(employee(7, component("1100", value("10,00", 2) + value(text, 3)))))
    message = str(err.value)
    assert message.startswith("the wage-component report: <ComponentValue> value")
    assert repr(text) in message and "employee 7, period 3, code 1100" in message and "Fix:" in message
    with pytest.raises(ReportContentError) as err:
        payslip_lines(payslips(payslip(7, 3, line("4000", text))))
    message = str(err.value)
    assert message.startswith("the payslip report: <value> value") and repr(text) in message
    assert "payslip #1, employee 7, period 3, code 4000" in message


def test_input_shapes_bytes_text_file_and_chunks(tmp_path):
    xml = period_report(employee(1, component("1000", value("10,00"))))
    path = tmp_path / "r.xml"
    path.write_text(xml, encoding="utf-8")
    expected = period_lines(xml)
    assert len(expected) == 1
    assert period_lines(xml.encode()) == expected
    with path.open("rb") as binary:
        assert period_lines(binary) == expected
    with path.open("r", encoding="utf-8") as text:
        assert period_lines(text) == expected
    assert period_lines(iter([xml[:17], xml[17:40], xml[40:]])) == expected


def test_unknown_elements_are_recorded_as_drift_and_the_load_continues():
    drift = DriftRecorder()
    xml = period_report(
        employee(
            1,
            component("1000", value("10,00").replace("</Run>", "</Run><CostCenter>K1</CostCenter>")),
            extra="<Department><Code>x</Code></Department>",
        ),
        employee(2, component("1000", value("20,00"), extra="<Unit>EUR</Unit>")),
        after="<Summary><Total>30,00</Total></Summary>",
    ).replace("<EmployeesList>", "<EmployeesList><Note>n</Note>")
    lines = period_lines(xml, drift=drift)
    assert [ln.value for ln in lines] == [Decimal("10.00"), Decimal("20.00")]
    assert drift.as_dict() == {
        "Code": 1,
        "CostCenter": 1,
        "Department": 1,
        "Note": 1,
        "Summary": 1,
        "Total": 1,
        "Unit": 1,
    }
    assert "K1" not in json.dumps(drift.as_dict())


def test_the_old_guessed_shape_gives_no_lines_and_shows_up_as_drift():
    old = (
        "<reports><report><employeeid>1</employeeid><period>1</period><year>2024</year><lines>"
        "<line><code>1000</code><description>Salaris</description><value>1,00</value></line>"
        "</lines></report></reports>"
    )
    drift = DriftRecorder()
    assert period_lines(old, drift=drift) == []
    assert drift.as_dict()["report"] == 1 and drift.as_dict()["line"] == 1


def test_missing_required_element_names_it():
    xml = period_report(employee(7, component("1000", "<Value><ComponentValue>1</ComponentValue></Value>")))
    with pytest.raises(
        ReportContentError,
        match=r"required element <Period> is missing at employee record #1, employee 7, code 1000",
    ):
        period_lines(xml)
    xml = period_report(employee(7, component("1000", "<Value><Period>3</Period></Value>")))
    with pytest.raises(
        ReportContentError, match=r"<ComponentValue> is missing at .*employee 7, period 3, code 1000"
    ):
        period_lines(xml)
    with pytest.raises(ReportContentError, match="<EmployeeID> is missing"):
        period_lines(period_report("<Employees><WageComponentsList/></Employees>"))
    with pytest.raises(ReportContentError, match="the payslip report: required element <value> is missing"):
        payslip_lines(payslips(payslip(7, 3, "<line><code>1000</code></line>")))
    with pytest.raises(ReportContentError, match="required element <lines> is missing at payslip #2"):
        payslip_lines(
            payslips(
                payslip(7, 3, line("1000", "1")),
                "<payslip><employeeid>8</employeeid><period>3</period><year>2024</year></payslip>",
            )
        )


def test_an_element_given_twice_is_refused_rather_than_guessed():
    doubled = value("1,00", 3).replace("<Period>3</Period>", "<Period>3</Period><Period>4</Period>")
    with pytest.raises(ReportContentError, match="<Period> appears twice in one <Value>"):
        period_lines(period_report(employee(7, component("1000", doubled))))


def test_a_string_where_a_whole_number_belongs_names_it():
    with pytest.raises(
        ReportContentError,
        match=r"<Period> 'maart' is not a whole number at employee record #1, employee 7, code 1000",
    ):
        period_lines(period_report(employee(7, component("1000", value("1", period="maart")))))
    with pytest.raises(ReportContentError, match=r"<EmployeeID> '１２' is not a whole number"):
        period_lines(period_report(employee("１２", component("1000", value("1")))))


def test_value_past_numeric_range_is_refused():
    xml = period_report(employee(7, component("1000", value("123456789012345678,00", 3))))
    with pytest.raises(ReportContentError, match="out of range.*employee 7, period 3, code 1000"):
        period_lines(xml)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        "   \n",
        UTF16 + "<ReportCompanyEmployeeWageComponent/>",
        period_report(),
        "\ufeff" + UTF16 + "<x></x>",
    ],
)
def test_empty_report_gives_zero_lines(content):
    drift = DriftRecorder()
    assert period_lines(content, drift=drift) == []
    assert not drift


def test_truncated_report_is_a_clear_error():
    xml = period_report(
        employee(1, component("1000", value("1,00"))), employee(2, component("1000", value("2,00")))
    )
    with pytest.raises(ReportContentError, match="not well-formed"):
        period_lines(xml[: len(xml) - 30])


PLAIN = period_report(
    employee(
        1,
        component("1000", value("3250,45"))
        + component("4000", value("-12.5"), name="Loonheffing &amp; &#233;&#x20AC;"),
    ),
    employee(2, component("1000", value("1234,56"), name="")),
)
VARIANTS = {
    "pretty": PLAIN.replace("<Value>", "\n      <Value>").replace("<Employees>", "\n  <Employees>"),
    "crlf": PLAIN.replace("<Values>", "\r\n<Values>"),
    "comment": PLAIN.replace("<Values>", "<!-- </Employees> --><Values>"),
    "cdata": PLAIN.replace(
        "<ComponentName>Salaris</ComponentName>", "<ComponentName><![CDATA[Salaris]]></ComponentName>"
    ),
    "pi": PLAIN.replace("<EmployeesList>", "<EmployeesList><?nmbrs x?>"),
    "attributes": PLAIN.replace("<ComponentValue>", '<ComponentValue currency="EUR">'),
    "namespaced": PLAIN.replace(
        "<ReportCompanyEmployeeWageComponent>", '<ReportCompanyEmployeeWageComponent xmlns="urn:nmbrs">'
    ),
    "reordered": PLAIN.replace("<Period>1</Period><Run>1</Run>", "<Run>1</Run><Period>1</Period>"),
    "self-closing": PLAIN.replace("<ComponentName></ComponentName>", "<ComponentName/>"),
    "no declaration": PLAIN.removeprefix(UTF16),
    "utf-8 declaration": PLAIN.replace('encoding="utf-16"', 'encoding="utf-8"'),
    "byte-order mark": "\ufeff" + PLAIN,
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_layout_variants_give_the_same_lines(name):
    expected = period_lines(PLAIN)
    assert [ln.value for ln in expected] == [Decimal("3250.45"), Decimal("-12.5"), Decimal("1234.56")]
    assert expected[1].description == "Loonheffing & é€"
    assert period_lines(VARIANTS[name]) == expected


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
<payslips><payslip><employeeid>1</employeeid><period>1</period><year>2024</year><lines>
<line><code>1000</code><description>&lol9;</description><value>1,00</value></line></lines></payslip></payslips>"""


@pytest.mark.parametrize("encode", [str, lambda text: text.encode("utf-16")], ids=["utf-8", "real utf-16"])
def test_entity_bomb_is_refused_quickly(encode):
    started = time.monotonic()
    with pytest.raises(ReportContentError, match="DOCTYPE"):
        payslip_lines(encode(BOMB))
    assert time.monotonic() - started < 2


def test_external_entity_is_refused_and_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xml = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>' + payslips(
        payslip(1, 1, line("1000", "1,00", description="&x;")), declaration=""
    )
    with pytest.raises(ReportContentError) as err:
        payslip_lines(xml)
    assert "TOP-SECRET" not in str(err.value)


MEASURE = """
import resource, sys
from pipelines.lib.nmbrs.reports import iter_report_lines
from pipelines.lib.nmbrs.errors import ReportContentError
kind, size = sys.argv[1], int(sys.argv[2])
def huge_text():
    yield b"<R><EmployeesList><Employees><EmployeeID>1</EmployeeID><WageComponentsList><WageComponents><ComponentNumber>1</ComponentNumber><ComponentName>"
    block = b"A" * (1 << 20)
    for _ in range(size):
        yield block
    yield b"</ComponentName></WageComponents></WageComponentsList></Employees></EmployeesList></R>"
def many_lines():
    yield '\\ufeff<?xml version="1.0" encoding="utf-16"?><R><EmployeesList>'.encode()
    body = b"".join(
        b"<WageComponents><ComponentNumber>%d</ComponentNumber><ComponentName>Salaris</ComponentName><Values>"
        b"<Value><ComponentValue>%d,%02d</ComponentValue><Period>1</Period><Run>1</Run></Value></Values></WageComponents>"
        % (c, c * 7, c % 100)
        for c in range(10)
    )
    for emp in range(size // 10):
        yield b"<Employees><EmployeeID>%d</EmployeeID><WageComponentsList>%s</WageComponentsList></Employees>" % (emp, body)
    yield b"</EmployeesList></R>"
outcome = "ok"
count = 0
try:
    for _ in iter_report_lines(huge_text() if kind == "text" else many_lines(), kind="period", year=2024):
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


def test_kind_and_request_are_checked():
    with pytest.raises(ValueError, match="kind must be one of"):
        list(iter_report_lines(PLAIN, kind="wagecodes"))
    with pytest.raises(ValueError, match="holds no year"):
        list(iter_report_lines(PLAIN, kind="period"))
    with pytest.raises(ValueError, match="run_id"):
        list(iter_report_lines(PLAIN, kind="payslip"))
