"""The demo's summary tells the truth about the synced warehouse, and the demo sandbox is reused safely."""

from __future__ import annotations

import socket
from decimal import Decimal

import pytest

from pipelines.lib import demo, demo_summary
from pipelines.lib.settings import ConfigurationError
from tests.conftest import temporary_env


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


def test_a_running_sandbox_on_the_port_is_reused(sandbox):
    with temporary_env({"PAYROLL_SANDBOX_PORT": str(sandbox.port)}):
        with demo.demo_sandbox(echo=lambda _line: None) as handle:
            assert handle.started_here is False
            assert handle.url == sandbox.url


def test_a_foreign_server_on_the_sandbox_port_is_a_clear_error():
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        with temporary_env({"PAYROLL_SANDBOX_PORT": str(port)}):
            with pytest.raises(ConfigurationError, match="PAYROLL_SANDBOX_PORT"):
                with demo.demo_sandbox(echo=lambda _line: None):
                    pass
