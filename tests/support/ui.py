"""The Dagster UI under test: `payroll ui` started and stopped as a user would, and Debian's Chromium
(installed through apt-get when /usr/bin/chromium is missing; Playwright's own browser download is
never used)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import requests

from pipelines.lib.settings import PROJECT_ROOT
from tests.support.ports import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
UI_START_SECONDS = 240
STOP_SECONDS = 60


def ensure_chromium() -> Path:
    """Debian's Chromium, installed with apt-get when missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.fail(
            "/usr/bin/chromium is missing and apt-get is not available: install Debian's chromium package"
        )
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([*sudo, apt, "update", "-qq"], [*sudo, apt, "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"`{' '.join(command)}` failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    if not CHROMIUM.exists():
        pytest.fail("apt-get installed chromium but /usr/bin/chromium does not exist")
    return CHROMIUM


def skip_welcome_dialog(page) -> None:
    """An instance greets with a newsletter dialog until someone skips it, and it may open seconds
    after a page loads: Playwright skips it whenever it shows, before each action and assertion."""
    page.add_locator_handler(page.get_by_role("button", name="Skip", exact=True), lambda skip: skip.click())


@dataclass
class RunningUi:
    url: str
    port: int
    process: subprocess.Popen
    log_path: Path
    processes: list[psutil.Process] = field(default_factory=list)

    def remember_processes(self) -> None:
        """Every process of the UI (payroll ui, dagster dev, webserver, daemon, code servers)."""
        try:
            seen = {proc.pid: proc for proc in self.processes}
            root = psutil.Process(self.process.pid)
            for proc in [root, *root.children(recursive=True)]:
                seen.setdefault(proc.pid, proc)
            self.processes = list(seen.values())
        except psutil.NoSuchProcess:
            pass

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _location_loaded(url: str) -> bool:
    query = {
        "query": "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
        "locationOrLoadError { __typename } } } } }"
    }
    try:
        body = requests.post(f"{url}/graphql", json=query, timeout=10).json()
    except (requests.RequestException, ValueError):
        return False
    entries = body.get("data", {}).get("workspaceOrError", {}).get("locationEntries", [])
    return any(
        entry["loadStatus"] == "LOADED" and entry["locationOrLoadError"]["__typename"] == "RepositoryLocation"
        for entry in entries
    )


def start_ui(log_path: Path) -> RunningUi:
    port = free_port()
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "ui", "--host", "127.0.0.1", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    ui = RunningUi(f"http://127.0.0.1:{port}", port, process, log_path)
    deadline = time.monotonic() + UI_START_SECONDS
    while time.monotonic() < deadline:
        ui.remember_processes()
        if process.poll() is not None:
            pytest.fail(f"`payroll ui` exited with {process.returncode}:\n{ui.log_tail()}")
        if _location_loaded(ui.url):
            ui.remember_processes()
            return ui
        time.sleep(2)
    stop_ui(ui)
    pytest.fail(f"the Dagster UI did not load the code location within {UI_START_SECONDS}s:\n{ui.log_tail()}")


def stop_ui(ui: RunningUi) -> list[psutil.Process]:
    """Stop `payroll ui` as a terminal's Ctrl-C would. Returns the processes that outlived it (killed)."""
    ui.remember_processes()
    if ui.process.poll() is None:
        ui.process.send_signal(2)  # SIGINT
        try:
            ui.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            ui.process.kill()
            ui.process.wait(timeout=10)
    _, alive = psutil.wait_procs(ui.processes, timeout=10)
    for proc in alive:
        proc.kill()
    psutil.wait_procs(alive, timeout=10)
    return alive
