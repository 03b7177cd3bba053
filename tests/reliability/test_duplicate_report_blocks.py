"""Issue 16, item 4: a report whose lines repeat a key never enters raw, with `--no-dbt` too.

The sandbox serves each report of company 103 with its first employee block twice (fault kind
`repeat_block`: every line of that employee and period twice). The raw tables' unique keys
(pipelines/lib/warehouse.py UNIQUE_KEYS) refuse the load: the sync exits 1, each company-year fails
naming the repeated key (company, year, period, employee, code), nothing is retried (the same report
would come back) and every raw table keeps its rows.
"""

from __future__ import annotations

import datetime as dt
import re

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
CASES = {
    WAGE_REPORT: ("wage-component report", "nmbrs.wage_components", r"period=\d+, employee_id=\d+, code=\d+"),
    PAYSLIP_REPORT: (
        "payslip report",
        "nmbrs.payslips",
        r"run_id=[\w-]+, period=\d+, employee_id=\d+, code=\d+",
    ),
}


@pytest.mark.parametrize("report", list(CASES), ids=[label for label, _, _ in CASES.values()])
def test_a_report_that_repeats_a_block_is_refused_naming_the_key(reference, report):
    label, table, key = CASES[report]
    pipeline, sandbox = reference.pipeline, reference.sandbox
    run = sync_with_fault(pipeline, report, "repeat_block")
    result, seconds, output, rule = run.result, run.seconds, run.output, run.rule
    assert result.returncode == 1, output[-3000:]
    world = sandbox.state.world
    # Every company-year of company 103 with runs (in January this year has none: nothing to repeat).
    with_runs = [y for y in (YEAR - 1, YEAR) if world.runs(103, y)]
    failed = run.failed
    assert len(failed) == len(with_runs) and with_runs, output[-3000:]
    for line in failed:
        year = next(y for y in with_runs if f"company 103, year {y}" in line)
        assert f"the {label}: loading {table} partition" in line, line
        assert re.search(rf"repeat the key company_id=103, year={year}, {key}", line), line
        assert "the previous rows are kept" in line and "Fix:" in line, line
    asked = 2 if report == WAGE_REPORT else sum(len(world.runs(103, year)) for year in (YEAR - 1, YEAR))
    assert rule.fired == asked, "each report was asked for once: a repeated key is never retried"
    assert differing(raw_only(pipeline.hashes()), raw_only(reference.hashes)) == []
    record_figure(
        "16_4_repeated_report_block",
        **{
            label: f"exit 1, {len(failed)} partition(s) refused naming the key, 0 retries, rows kept, {seconds:.0f} s"
        },
    )
