"""The Dagster UI under test: `payroll ui` on a free port against the synced demo instance, and a
headless Debian Chromium driven by Playwright. Screenshots of failed tests go to tests/artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.env import ARTIFACTS
from tests.support.ui import CHROMIUM_ARGS, RunningUi, ensure_chromium, skip_welcome_dialog, start_ui, stop_ui

PAGE_TIMEOUT_MS = 60_000  # a page of the UI can take this long on a busy machine


@pytest.fixture(scope="module")
def chromium() -> Path:
    return ensure_chromium()


@pytest.fixture(scope="module")
def dagster_ui(synced_demo, demo_env) -> Iterator[RunningUi]:
    """`payroll ui` serving the synced demo instance (webserver + daemon, so queued runs start)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ui = start_ui(ARTIFACTS / "payroll-ui.log")
    try:
        yield ui
    finally:
        stop_ui(ui)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def page(chromium, dagster_ui, request):
    """A fresh browser page on the UI; a screenshot is saved in tests/artifacts/ if the test fails."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=PAGE_TIMEOUT_MS)  # assertions wait as long as actions do

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000}, base_url=dagster_ui.url)
            context.set_default_timeout(PAGE_TIMEOUT_MS)
            page = context.new_page()
            skip_welcome_dialog(page)
            yield page
            report = getattr(request.node, "report_call", None)
            if report is not None and report.failed:
                page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        finally:
            browser.close()
