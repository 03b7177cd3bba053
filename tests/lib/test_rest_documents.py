"""The run-output and journal parsers: tolerant of what may change, strict about money."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipelines.lib.nmbrs.documents import parse_journal, parse_run_output, unbalanced
from pipelines.lib.nmbrs.errors import ReportContentError
from pipelines.lib.nmbrs.reports import DriftRecorder

RUN = "9f90e8e6-bc6a-5d20-99b1-5ff128ec7c9e"
RUN_OUTPUT = f"""<?xml version="1.0" encoding="utf-16"?>
<RunOutput xmlns="urn:example">
  <PayrollRunId>{RUN}</PayrollRunId><RunNumber>6</RunNumber><Generated>2025-05-27</Generated>
  <Employees><Employee><EmployeeId>e-1</EmployeeId><EmployeeNumber>1</EmployeeNumber>
    <Periods><Period><Year>2025</Year><Number>3</Number><WageCodes>
      <WageCode><Code>1000</Code><Description>Salaris</Description><Value>150.00</Value><Unit>EUR</Unit></WageCode>
      <WageCode><Code>4000</Code><Description>Loonheffing</Description><Value>-55.89</Value></WageCode>
    </WageCodes></Period></Periods></Employee></Employees>
</RunOutput>"""
JOURNAL = """<?xml version="1.0" encoding="utf-8"?>
<transactions><transaction><header><date>2011-01-31</date><period>1/2011</period></header><lines>
<line id="0"><dim1>4000</dim1><dim2>100</dim2><dim3/><value>2000.00</value><debitcredit>debit</debitcredit>
<description>Salaris</description></line>
<line id="1"><dim1>1600</dim1><dim2>100</dim2><dim3/><value>2000.00</value><debitcredit>credit</debitcredit>
<description>Nettoloon</description></line>
</lines></transaction></transactions>"""


def test_run_output_is_read_whatever_the_case_namespace_or_declared_encoding():
    drift = DriftRecorder()
    lines = parse_run_output(RUN_OUTPUT.encode("utf-8"), "c-1", RUN, drift)
    assert [(x.employee_id, x.employee_number, x.year, x.period, x.code, x.value) for x in lines] == [
        ("e-1", 1, 2025, 3, "1000", Decimal("150.00")),
        ("e-1", 1, 2025, 3, "4000", Decimal("-55.89")),
    ]
    assert {x.run_number for x in lines} == {6}
    assert drift.as_dict() == {"runoutput/generated": 1, "runoutput/wagecode/unit": 1}


def test_a_run_output_of_another_run_is_refused():
    with pytest.raises(ReportContentError, match="is the output of run"):
        parse_run_output(RUN_OUTPUT.encode(), "c-1", "00000000-0000-0000-0000-000000000000")


@pytest.mark.parametrize(
    "value", ["150,00", "1.500,00", "", "EUR 150", "１５０.００", "1e5", "NaN", "١٥٠.00"]
)
def test_a_value_that_is_not_a_dot_decimal_names_the_element_and_place(value):
    content = RUN_OUTPUT.replace("<Value>150.00</Value>", f"<Value>{value}</Value>").encode()
    with pytest.raises(ReportContentError, match=r"wage code 1000 in period 3/2025 of employee e-1"):
        parse_run_output(content, "c-1", RUN)


def test_a_doctype_is_refused():
    content = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><transactions/>'
    with pytest.raises(ReportContentError, match="DOCTYPE"):
        parse_journal(content, "c-1", RUN, "journals")


def test_journal_lines_carry_the_accounts_and_balance():
    lines = parse_journal(JOURNAL.encode(), "c-1", RUN, "journalscostcenter")
    assert [(x.account, x.dimension, x.cost_unit, x.side, x.signed) for x in lines] == [
        ("4000", "100", None, "debit", Decimal("2000.00")),
        ("1600", "100", None, "credit", Decimal("-2000.00")),
    ]
    assert {(x.year, x.period, x.date.isoformat(), x.line_id) for x in lines} == {
        (2011, 1, "2011-01-31", "0"),
        (2011, 1, "2011-01-31", "1"),
    }
    assert unbalanced(lines) == {}
    assert unbalanced(lines[:1]) == {(2011, 1): Decimal("2000.00")}


@pytest.mark.parametrize(
    "original,replacement,message",
    [
        (
            "<debitcredit>credit</debitcredit>",
            "<debitcredit>both</debitcredit>",
            "line 1 .* not debit or credit",
        ),
        ("<period>1/2011</period>", "<period>2011-01</period>", "not period/year"),
    ],
)
def test_a_broken_journal_says_where(original, replacement, message):
    broken = JOURNAL.replace(original, replacement, 1)
    with pytest.raises(ReportContentError, match=message):
        parse_journal(broken.encode(), "c-1", RUN, "journals")
