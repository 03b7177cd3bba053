"""Scenarios 8 and 10 in a real sync: drifting and malicious report content served by the sandbox.

One sync of the reference pipeline with every company-year's wage-component report (the accountant
`EmployeesList` shape, declared utf-16) altered in a different way: a new element (recorded as
drift, the load goes on), a missing element, a string where a number belongs, a value past the
numeric range, a DOCTYPE entity bomb and an external entity (the alterations of lines on
company-years with runs: in January this year has none, and the numeric-range one is not served).
The bad partitions fail at once
(no retries: the same report would come back) with an error naming the problem, and keep their
rows; nothing else changes. An empty wage-component report and an empty payslip report for a
company-year with runs are refused the same way. The parser-level cases, including the comma
decimal and the 100 MB text node with peak RSS measured in a child process, are in
tests/lib/test_reports.py and tests/lib/test_soap.py; comma decimals through a whole sync in
test_faults_during_sync.py; values outside the grammar in test_hostile_report_values.py.
"""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest

from tests.support.pipeline import differing, raw_only, record_figure


@pytest.fixture
def reference(soap_reference):
    """This module's faults are in the SOAP reports, which only source mode soap reads."""
    return soap_reference


pytestmark = pytest.mark.reliability

YEAR = dt.date.today().year
BOMB = (
    '<!DOCTYPE lolz [<!ENTITY lol "lollollollollollollollollollol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1 if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>"
)


def _first(pattern: str, replacement: str):
    return lambda xml: re.sub(pattern, replacement, xml, count=1)


def _doctype(declaration: str):
    return lambda xml: xml.replace("?>", "?>" + declaration, 1)


AMOUNT = r"<ComponentValue>[0-9][^<]*</ComponentValue>"
# Alterations of the report's lines, which need a company-year with runs (the first is the drift one).
LINE_ALTERATIONS = {
    "new element": lambda xml: xml.replace("<Values>", "<Bonus>1</Bonus><Values>").replace(
        "</Run>", "</Run><Unit>EUR</Unit>"
    ),
    "missing element": _first(r"<Period>\d+</Period>", ""),
    "string where a number belongs": _first(AMOUNT, "<ComponentValue>n/a</ComponentValue>"),
    "value past numeric range": _first(AMOUNT, "<ComponentValue>1" + "0" * 20 + "</ComponentValue>"),
}
# Alterations of the declaration, which apply to any report.
DECLARATION_ALTERATIONS = {
    "DOCTYPE entity bomb": _doctype(BOMB),
    "external entity": _doctype('<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'),
}


def _plan(world) -> dict[tuple[int, int], tuple[str, object]]:
    """One alteration per company-year: the line alterations on company-years with runs (the first
    year's first), the declaration ones on the rest. This year has no run yet in January, so a line
    alteration without a company-year with runs left is not served then."""
    slots = [(c, y) for y in sorted(world.years(101)) for c in (101, 102, 103)]
    with_runs = [slot for slot in slots if world.runs(*slot)]
    plan = dict(zip(with_runs, LINE_ALTERATIONS.items(), strict=False))
    rest = [slot for slot in slots if slot not in plan]
    plan.update(zip(rest, DECLARATION_ALTERATIONS.items(), strict=False))
    assert set(DECLARATION_ALTERATIONS) <= {name for name, _ in plan.values()}
    assert len(plan) >= 5, plan  # at least 3 line alterations (January) and both declaration ones
    return plan


EXPECTED_ERRORS = {
    "missing element": "the wage-component report: required element <Period> is missing",
    "string where a number belongs": "the wage-component report: <ComponentValue> value 'n/a' is not an amount",
    "value past numeric range": "<ComponentValue> value '100000000000000000000' is out of range",
    "DOCTYPE entity bomb": "declares a DOCTYPE",
    "external entity": "declares a DOCTYPE",
}


@pytest.fixture
def altered_reports(reference, monkeypatch):
    from pipelines.sandbox import reports

    original = reports.wage_component_report
    plan = _plan(reference.sandbox.state.world)

    def wage_component_report(company, year, *args, **kwargs):
        xml = original(company, year, *args, **kwargs)
        alteration = plan.get((company.id, year))
        return xml if alteration is None else alteration[1](xml)

    monkeypatch.setattr(reports, "wage_component_report", wage_component_report)
    monkeypatch.plan = plan
    return monkeypatch


def test_drifting_and_malicious_reports_fail_their_partition_clearly_and_lose_nothing(
    reference, altered_reports
):
    pipeline = reference.pipeline
    started = time.monotonic()
    try:
        result = pipeline.sync(include_dbt=False, full_refresh=True)
        seconds = time.monotonic() - started
        drift = _check(pipeline, reference, result, altered_reports.plan)
    finally:
        altered_reports.undo()
        cleanup = pipeline.sync(companies=[101], include_dbt=False, full_refresh=True)
    assert cleanup.success
    assert differing(pipeline.hashes(), reference.hashes) == []
    record_figure(
        "8_10_bad_reports_in_a_sync",
        outcomes=_outcomes(result, altered_reports.plan),
        drift_elements=drift,
        step_retries=sum(step.retries for step in result.steps),
        seconds=round(seconds, 1),
    )


def _outcomes(result, plan) -> dict[str, str]:
    steps = {step.partition: step for step in result.steps if step.partition}
    return {
        name: "loaded" if steps[f"{company}|{year}"].success else "refused"
        for (company, year), (name, _) in plan.items()
    }


def _check(pipeline, reference, result, plan) -> dict[str, int]:
    steps = {step.partition: step for step in result.steps if step.partition}
    for (company, year), (name, _) in plan.items():
        step = steps[f"{company}|{year}"]
        if name == "new element":
            assert step.success, step.error
            continue
        assert not step.success, f"{name}: the partition loaded"
        assert EXPECTED_ERRORS[name] in step.error, step.error
        assert "rolled back; the previous rows are kept" in step.error and "Fix:" in step.error
        assert step.retries == 0, f"{name}: retried although the same report would come back"
        assert "lollol" not in step.error and "root:" not in step.error

    drift = dict(
        pipeline.query(
            "select element, occurrences from nmbrs.schema_drift where company_id = %s and year = %s",
            next(slot for slot, (name, _) in plan.items() if name == "new element"),
        )
    )
    assert set(drift) == {"Bonus", "Unit"} and drift["Bonus"] > 0 and drift["Unit"] > drift["Bonus"]
    changed = differing(pipeline.hashes(), reference.hashes)
    assert changed == [
        f"nmbrs.schema_drift: {pipeline.hashes()['nmbrs.schema_drift']} != "
        f"{reference.hashes['nmbrs.schema_drift']}"
    ], changed

    return drift


def test_an_empty_report_for_a_year_with_runs_is_refused_and_keeps_the_loaded_rows(reference, monkeypatch):
    """An empty answer from Nmbrs must not wipe a company-year that has payroll runs."""
    from pipelines.sandbox import reports

    original = reports.wage_component_report

    def wage_component_report(company, year, rows, *args, **kwargs):
        return original(company, year, [] if (company.id, year) == (103, YEAR - 1) else rows, *args, **kwargs)

    pipeline = reference.pipeline
    monkeypatch.setattr(reports, "wage_component_report", wage_component_report)
    try:
        result = pipeline.sync(companies=[103], include_dbt=False, full_refresh=True)
    finally:
        monkeypatch.undo()
    steps = {step.partition: step for step in result.steps if step.partition}
    empty = steps[f"103|{YEAR - 1}"]
    assert not empty.success
    assert "is empty although Nmbrs lists" in empty.error and "Fix:" in empty.error, empty.error
    assert "rolled back; the previous rows are kept" in empty.error
    assert empty.retries == 0
    assert steps[f"103|{YEAR}"].success, steps[f"103|{YEAR}"].error
    assert differing(raw_only(pipeline.hashes()), raw_only(reference.hashes)) == []
    record_figure("8_empty_report", outcome="refused", rows_kept=reference.hashes["nmbrs.wage_components"][0])


@pytest.mark.parametrize(
    "served",
    [
        pytest.param(lambda xml: xml.split("<payslip>")[0] + "</payslips>", id="no payslips"),
        pytest.param(
            lambda xml: xml.replace("<payslip>", "<report>").replace("</payslip>", "</report>"),
            id="another shape",
        ),
    ],
)
def test_a_payslip_report_without_lines_is_refused_and_keeps_the_loaded_rows(reference, monkeypatch, served):
    """A payslip report that yields nothing (empty, or in a shape the parser does not read) for a run
    is never loaded as an empty run: it would make the run's payslips vanish from the marts."""
    from pipelines.sandbox import reports

    original = reports.payslip_report
    target = reference.sandbox.state.world.runs(103, YEAR - 1)[0]

    def payslip_report(company, run, *args, **kwargs):
        xml = original(company, run, *args, **kwargs)
        return served(xml) if run.id == target.id else xml

    pipeline = reference.pipeline
    monkeypatch.setattr(reports, "payslip_report", payslip_report)
    try:
        result = pipeline.sync(companies=[103], include_dbt=False, full_refresh=True)
    finally:
        monkeypatch.undo()
    steps = {step.partition: step for step in result.steps if step.partition}
    refused = steps[f"103|{YEAR - 1}"]
    assert not refused.success
    assert f"the payslip report of run {target.number}" in refused.error, refused.error
    assert "holds no payslip lines" in refused.error and "Fix:" in refused.error
    assert "rolled back; the previous rows are kept" in refused.error and refused.retries == 0
    assert steps[f"103|{YEAR}"].success, steps[f"103|{YEAR}"].error
    assert differing(raw_only(pipeline.hashes()), raw_only(reference.hashes)) == []
    record_figure("8_empty_payslip_report", outcome="refused")
