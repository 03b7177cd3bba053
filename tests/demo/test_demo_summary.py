"""The demo's summary tells the truth about the synced warehouse."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipelines.lib import demo_summary


@pytest.fixture(scope="module")
def summary(synced_demo, demo_env) -> demo_summary.DemoSummary:
    return demo_summary.collect(demo_env["PAYROLL_DATABASE_URL"])


def test_loads_match_what_the_sandbox_generated(summary, sandbox):
    truth = sandbox.state.truth
    assert [c.company_id for c in summary.companies] == [101, 102, 103]
    assert len(summary.companies) == truth.rows("companies")
    assert summary.employees == truth.rows("employees")
    periods = {(line.company_id, line.year, line.period) for line in truth.lines("wage_components")}
    assert summary.periods == len(periods)
    by_company = {c.company_id: c for c in summary.companies}
    assert by_company[102].period_type == "Week4"
    assert by_company[102].periods == len({p for p in periods if p[0] == 102})


def test_wage_components_mapped_and_hidden(summary, sandbox):
    components = {(line.company_id, line.code) for line in sandbox.state.truth.lines("wage_components")}
    hidden = {key for key in components if key[1] in {"9900", "9910"}}
    assert summary.wage_components.get("unmapped", 0) == 0
    assert summary.wage_components["hidden"] == len(hidden)
    assert summary.wage_components["mapped"] == len(components - hidden)
    assert summary.component_codes == len({code for _, code in components})


def test_wage_components_are_counted_per_company_and_hidden_is_explained(summary, sandbox):
    lines = list(sandbox.state.truth.lines("wage_components"))
    for company in summary.companies:
        codes = {line.code for line in lines if line.company_id == company.company_id}
        hidden = codes & {"9900", "9910"}
        assert summary.wage_components_by_company[company.company_id] == {
            "mapped": len(codes - hidden),
            "hidden": len(hidden),
        }
    text = "\n".join(demo_summary.render(summary))
    assert "hidden = left out of the GL on purpose" in text
    for company in summary.companies:
        counts = summary.wage_components_by_company[company.company_id]
        assert (
            f"  {company.company_id}  {company.name}: {counts['mapped']} mapped, {counts['hidden']} hidden"
            in text
        )


def test_four_weekly_periods_are_labelled_as_periods(summary, sandbox):
    lines = list(sandbox.state.truth.lines("wage_components"))
    by_company = {c.company_id: c for c in summary.companies}
    for company_id, label in ((101, "{year}-{period:02d}"), (102, "{year} P{period:02d} (4-wk)")):
        periods = sorted({(line.year, line.period) for line in lines if line.company_id == company_id})
        (first_year, first_period), (last_year, last_period) = periods[0], periods[-1]
        assert by_company[company_id].first_period == label.format(year=first_year, period=first_period)
        assert by_company[company_id].last_period == label.format(year=last_year, period=last_period)


def test_differences_are_exactly_the_sandbox_erp_differences(summary, sandbox):
    expected = {
        (d.company_id, d.year, d.month, d.account, d.difference, d.kind)
        for d in sandbox.state.truth.erp_differences
    }
    found = {(d.company_id, d.year, d.month, d.account, d.difference, d.status) for d in summary.differences}
    assert found == expected
    assert sum(summary.reconciliation.values()) > len(expected)
    assert summary.reconciliation["matched"] == sum(summary.reconciliation.values()) - len(expected)


def test_rendered_summary_lists_every_difference_to_the_cent(summary):
    text = "\n".join(demo_summary.render(summary))
    assert "Loaded 3 companies" in text
    assert "Fietsenmakerij Jansen & Zn.  (Week4)" in text
    for difference in summary.differences:
        row = next(
            line
            for line in text.splitlines()
            if f"{difference.year}-{difference.month:02d}" in line and f" {difference.account} " in line
        )
        assert f"{difference.difference:,.2f}" in row
        assert difference.status in row
        assert difference.company in row
    assert f"{Decimal('-100.00'):,.2f}" in text
    assert "0 unmapped" in text


def test_three_way_summary_names_the_side_that_disagrees(summary, sandbox):
    from pipelines.sandbox import ledger

    year = sandbox.state.config.first_year
    diff = ledger.NMBRS_DIFFERENCE
    assert summary.journal_runs == sandbox.state.truth.rows("payroll_runs")
    found = {(d.entity, d.year, d.month, d.account): d.status for d in summary.three_way_differences}
    assert found == {
        ("NL01", year, diff.period, diff.mapping_account): "mapping_differs_from_nmbrs",
        ("NL01", year, diff.period, diff.nmbrs_account): "mapping_differs_from_nmbrs",
        ("NL01", year, 6, "4000"): "erp_differs_from_journal",
        ("NL02", year, 3, "4100"): "missing_in_erp",
        ("NL03", year, 12, "4200"): "missing_in_payroll",
    }
    text = "\n".join(demo_summary.render(summary))
    assert f"Nmbrs journals: loaded for {summary.journal_runs} payroll runs." in text
    counts = summary.three_way
    assert (
        f"{counts['matched']} matched, 2 mapping_differs_from_nmbrs, 1 erp_differs_from_journal, "
        "1 missing_in_erp, 1 missing_in_payroll" in text
    )
    for d in summary.three_way_differences:
        row = next(
            line
            for line in text.splitlines()
            if line.startswith(f"  {d.entity}")
            and f"{d.year}-{d.month:02d}" in line
            and f" {d.account} " in line
        )
        assert f"{d.payroll:,.2f}" in row and f"{d.journal:,.2f}" in row and f"{d.erp:,.2f}" in row
        assert row.rstrip().endswith(d.status)
    assert "marts.payroll_reconciliation_explained" in text
