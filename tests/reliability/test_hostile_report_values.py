"""Issue 16, item 8: report values follow one strict grammar, in a real `payroll sync`.

The sandbox serves a report whose first amount is outside the grammar (fault kind `report_value`):
an exponent, fullwidth digits, a thousands group, NaN, Infinity. `1e5` must never become 100000,
nor `１２３` 123. The sync exits 1, the error names the report, the element and the value, nothing is
retried (the same report would come back) and every raw table keeps its rows.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support.pipeline import differing, raw_only, record_figure, sync_with_fault


@pytest.fixture
def reference(soap_reference):
    """This module's faults are in the SOAP reports, which only source mode soap reads."""
    return soap_reference


pytestmark = pytest.mark.reliability

YEAR = dt.date.today().year
WAGE_REPORT = "soap:ReportService.Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background"
PAYSLIP_REPORT = "soap:ReportService.Reports_GetPayslipByRunCompany_v2_Background"
LABELS = {WAGE_REPORT: "wage-component report", PAYSLIP_REPORT: "payslip report"}
HOSTILE = [
    (WAGE_REPORT, "1e5", "the wage-component report: <ComponentValue> value '1e5' is not an amount"),
    (WAGE_REPORT, "１２３", "the wage-component report: <ComponentValue> value '１２３' is not an amount"),
    (
        WAGE_REPORT,
        "1.000,00",
        "the wage-component report: <ComponentValue> value '1.000,00' is not an amount",
    ),
    (WAGE_REPORT, "NaN", "the wage-component report: <ComponentValue> value 'NaN' is not an amount"),
    (PAYSLIP_REPORT, "Infinity", "the payslip report: <value> value 'Infinity' is not an amount"),
    (PAYSLIP_REPORT, "1e5", "the payslip report: <value> value '1e5' is not an amount"),
]


@pytest.mark.parametrize(
    ("report", "value", "message"), HOSTILE, ids=[f"{LABELS[r]} {v}" for r, v, _ in HOSTILE]
)
def test_a_value_outside_the_grammar_fails_the_sync_clearly_and_keeps_every_row(
    reference, report, value, message
):
    pipeline, sandbox = reference.pipeline, reference.sandbox
    run = sync_with_fault(pipeline, report, "report_value", value=value)
    result, seconds, output, rule = run.result, run.seconds, run.output, run.rule
    assert result.returncode == 1, output[-3000:]
    world = sandbox.state.world
    # Every company-year of company 103 with runs (in January this year has none: no value to alter).
    with_runs = [y for y in (YEAR - 1, YEAR) if world.runs(103, y)]
    failed = run.failed
    assert len(failed) == len(with_runs) and with_runs, output[-3000:]
    for line in failed:
        assert message in line and "Fix:" in line, line
        assert "rolled back; the previous rows are kept" in line, line
        assert any(f"company 103, year {year}" in line for year in with_runs), line
    asked = 2 if report == WAGE_REPORT else sum(len(world.runs(103, year)) for year in (YEAR - 1, YEAR))
    assert rule.fired == asked, "every report was asked for once: a refused value is never retried"
    assert differing(raw_only(pipeline.hashes()), raw_only(reference.hashes)) == []
    record_figure(
        "16_8_report_value_grammar",
        **{
            f"{LABELS[report]} {value}": f"exit 1, {len(failed)} partition(s) refused, rows kept, {seconds:.0f} s"
        },
    )
