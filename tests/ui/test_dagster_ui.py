"""A data engineer's path through the Dagster UI, in a real headless Chromium.

`payroll ui` serves the synced demo instance. The user finds the Nmbrs raw asset, a dbt staging
model and the reconciliation mart in one asset graph, launches a materialization from the UI, watches
it succeed, and finally stops the UI with Ctrl-C, which must leave no process behind.
"""

from __future__ import annotations

import re

import dagster as dg
import pytest
from playwright.sync_api import Page, expect

from tests.support.ui import stop_ui

pytestmark = pytest.mark.browser

KEY_ASSETS = (
    ("nmbrs", "wage_components"),
    ("stg_nmbrs__wage_components",),
    ("payroll_gl_reconciliation",),
)
PIPELINE_GROUPS = ("nmbrs_raw", "erp", "mappings", "staging", "intermediate", "marts")
RUN_SECONDS = 600


def open_lineage(page: Page) -> None:
    page.goto("/asset-groups")
    expect(page.get_by_placeholder("Jump to")).to_be_visible()


def test_asset_graph_holds_the_pipeline_from_nmbrs_to_the_marts(page: Page):
    open_lineage(page)
    for group in PIPELINE_GROUPS:
        expect(page.get_by_text(group, exact=True).filter(visible=True).first).to_be_visible()

    for path in KEY_ASSETS:
        name = path[-1]
        page.get_by_placeholder("Jump to").fill(name)
        page.get_by_role("menuitem", name=name, exact=True).click()
        # The graph selects the asset and its side panel names the full key.
        expect(page.get_by_text(" / ".join(path), exact=True).filter(visible=True).first).to_be_visible()
        expect(page).to_have_url(re.compile(re.escape("/asset-groups/" + "%2F".join(path))))

    # One continuous graph: the reconciliation mart's upstream lineage reaches the Nmbrs API assets.
    page.goto("/assets/payroll_gl_reconciliation?view=lineage&lineageScope=upstream&lineageDepth=10")
    graph = page.locator("body")
    for text in (
        "nmbrs_raw",
        "staging",
        "intermediate",
        "wage_components",
        "payroll_runs",
        "chart_of_accounts",
    ):
        expect(graph.get_by_text(text, exact=True).filter(visible=True).first).to_be_visible()


def test_materialize_from_the_ui_succeeds(page: Page, dagster_ui):
    page.goto("/assets/erp/chart_of_accounts")
    page.get_by_role("button", name="Materialize").first.click()

    toast = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
    expect(toast).to_be_visible()
    short_id = re.search(r"[0-9a-f]{8}", toast.inner_text()).group(0)
    page.get_by_role("link", name="View", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/runs/{short_id}[0-9a-f-]+"))
    run_id = re.search(r"/runs/([0-9a-f-]{36})", page.url).group(1)

    # Queued by the UI, started by the daemon, then shown as a success on the run page.
    expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=RUN_SECONDS * 1000)

    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        records = instance.fetch_materializations(dg.AssetKey(["erp", "chart_of_accounts"]), limit=1).records
        assert records and records[0].run_id == run_id


def test_ctrl_c_stops_every_ui_process(dagster_ui):
    dagster_ui.remember_processes()
    names = {proc.pid: " ".join(proc.cmdline()[:4]) for proc in dagster_ui.processes if proc.is_running()}
    assert any("dagster" in name for name in names.values()), names
    survivors = stop_ui(dagster_ui)
    assert survivors == [], f"processes outlived Ctrl-C: {[names.get(p.pid, p.pid) for p in survivors]}"
    assert dagster_ui.process.returncode == 0


def test_payroll_ui_prints_no_dagster_tool_warnings(dagster_ui):
    """Issue 14 item 6: neither the `dev_command` supersession warning nor the warning that the
    repository's dagster.yaml is not the instance's (the UI starts in the DAGSTER_HOME folder)."""
    log = dagster_ui.log_path.read_text(errors="replace")
    assert "Launching Dagster services" in log, log[-3000:]
    assert "superseded" not in log and "SupersessionWarning" not in log
    assert "will not be used to configure Dagster" not in log
