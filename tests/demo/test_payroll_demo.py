"""`payroll demo` as a user runs it (`make demo`): twice, from a fresh state folder; and in two
checkouts of the repository at the same time.

The first run loads everything and prints the summary; the second reuses the database and the
REST token the first run's (now stopped) sandbox issued, fetches no reports for unchanged
company-years, parses dbt partially, and is faster. Neither leaves a process or a listening sandbox behind. Two checkouts
each run their own sandbox: the one that finds the port taken by the other's takes a free port.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pipelines.lib.settings import PROJECT_ROOT
from tests.support.ports import free_port, port_is_open

DEMO_SECONDS = 900


def run_demo(env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "demo"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_SECONDS,
    )
    return done, time.monotonic() - started


def demo_env(**values: str) -> dict[str, str]:
    """This environment without Nmbrs, Dagster or embedded-database settings, plus `values`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("NMBRS_", "DAGSTER_"))}
    for key in ("PAYROLL_EMBEDDED", "PAYROLL_HOME"):
        env.pop(key, None)
    return {**env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **values}


def copy_checkout(target: Path) -> Path:
    """Another checkout of this repository: every file git tracks or would track, as it is on disk
    (a `git clone` would miss the changes not committed yet), and none of its state or build output."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def processes_of(home: Path) -> list[psutil.Process]:
    """Processes still running with this state folder in their environment."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("PAYROLL_HOME") == str(home):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def processes_in(checkout: Path) -> list[psutil.Process]:
    """Processes still running in this checkout (their working folder inside it)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if Path(proc.cwd()).is_relative_to(checkout):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def company_year_calls(stdout: str) -> list[tuple[int, int]]:
    """(SOAP, REST) calls reported by each company-year step."""
    return [
        (int(soap), int(rest))
        for soap, rest in re.findall(
            r"company \d+, year \d+: done in [\d.]+s: .*?; (\d+) SOAP and (\d+) REST calls", stdout
        )
    ]


@pytest.mark.embedded
def test_payroll_demo_twice(make_database, tmp_path):
    home = tmp_path / "state"
    port = free_port()
    env = demo_env(
        PAYROLL_DATABASE_URL=make_database(), PAYROLL_HOME=str(home), PAYROLL_SANDBOX_PORT=str(port)
    )

    first, first_seconds = run_demo(env)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    out = first.stdout
    assert f"started the Nmbrs sandbox (scenario demo, seed 42) at http://127.0.0.1:{port}" in out
    assert "REST: connected to the sandbox" in out
    assert "Loaded 3 companies" in out
    assert "Wage components: 10 codes in all; per company (hidden = left out of the GL on purpose" in out
    assert len(re.findall(r"^  10[123]  .+: \d+ mapped, 2 hidden, 0 unmapped$", out, re.MULTILINE)) == 3
    assert re.search(
        r"Fietsenmakerij Jansen & Zn\.  \(Week4\): .*\(\d{4} P01 \(4-wk\) \.\. \d{4} P\d\d \(4-wk\)\)", out
    )
    assert re.search(r"\d+ matched, 1 difference, 1 missing_in_erp, 1 missing_in_payroll", out)
    assert re.search(r"Bakkerij de Vries B\.V\. .* 4000 Salarissen .* -100\.00 +difference", out)
    assert "payroll export --format xlsx --out export/" in out
    assert "demo finished" in out
    # The demo runs the default mode, rest: every company-year from REST alone, no SOAP call.
    assert company_year_calls(out) and all(soap == 0 and rest > 0 for soap, rest in company_year_calls(out))
    assert not port_is_open(port), "the demo left its sandbox serving"
    assert processes_of(home) == []

    second, second_seconds = run_demo(env)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    out = second.stdout
    # Issue 14 items 6 and 7: dbt parses partially (its parse state and manifest were kept), the
    # log file holds no colour codes, and the summary says which partitions were unchanged.
    log = (home / "logs" / "demo.log").read_text(encoding="utf-8")
    assert "Running dbt command" in log or "dbt build" in log, log[-3000:]
    assert "Starting full parse" not in log and "Unable to do partial parsing" not in log, log[-3000:]
    assert "\x1b[" not in log
    assert re.search(
        r"^Sync: unchanged, skipped: 6 company-year\(s\): company 101, year \d{4}", out, re.MULTILINE
    )
    assert re.search(
        r"ERP files \+ dbt build: done in [\d.]+s: ERP files: \d+ rows loaded into 2 tables; "
        r"dbt build: \d+ models built, \d+ of \d+ tests and checks passed",
        out,
    )
    # The new sandbox honours the refresh grant the first one issued (kept in the state folder), so
    # the stored connection is reused rather than connected again on every run (issue 14 item 6).
    assert "REST: reusing the stored connection" in out
    assert "the stored token was issued by an earlier sandbox" not in out
    # rest mode calls no SOAP at all; an unchanged partition lists its company and runs and fetches no
    # run output (which would take a start and a document call per run).
    calls = company_year_calls(out)
    assert calls and all(soap == 0 and rest <= 2 for soap, rest in calls), calls
    assert re.search(r"\d+ matched, 1 difference, 1 missing_in_erp, 1 missing_in_payroll", out)
    assert second_seconds < first_seconds, (first_seconds, second_seconds)
    assert not port_is_open(port)
    assert processes_of(home) == []


def test_two_checkouts_run_the_demo_at_the_same_time_each_with_its_own_sandbox(make_database, tmp_path):
    """Both prefer the same free port, as two clones' `make demo` both prefer 8765. Each keeps its
    state in its own `.payroll/` (no PAYROLL_HOME), its warehouse in a database of its own."""
    port = free_port()
    checkouts = [copy_checkout(tmp_path / name) for name in ("first", "second")]
    demos = [
        subprocess.Popen(
            [sys.executable, "-m", "pipelines", "demo"],
            cwd=checkout,
            env=demo_env(PAYROLL_DATABASE_URL=make_database(), PAYROLL_SANDBOX_PORT=str(port)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for checkout in checkouts
    ]
    outputs = [demo.communicate(timeout=DEMO_SECONDS) for demo in demos]

    sandboxes = []
    for demo, (out, err) in zip(demos, outputs, strict=True):
        assert demo.returncode == 0, out[-4000:] + err[-4000:]
        assert "reusing the Nmbrs sandbox" not in out
        assert "REST: connected to the sandbox" in out
        assert re.search(r"\d+ matched, 1 difference, 1 missing_in_erp, 1 missing_in_payroll", out)
        assert "demo finished" in out
        [url] = re.findall(
            r"started the Nmbrs sandbox \(scenario demo, seed 42\) at (http://127\.0\.0\.1:\d+)", out
        )
        sandboxes.append((url, out))
    urls = sorted(url for url, _ in sandboxes)
    assert len(set(urls)) == 2, urls
    # One got the preferred port; the other found it taken and said which free port it took.
    [(_, second_out)] = [(url, out) for url, out in sandboxes if url != f"http://127.0.0.1:{port}"]
    assert f"sandbox: port {port} is in use by another process" in second_out
    for checkout in checkouts:
        state = checkout / ".payroll"
        assert (state / "logs" / "demo.log").is_file(), "the demo kept its state outside its checkout"
        assert not (state / "sandbox.json").exists(), "the demo left its sandbox recorded"
        assert processes_in(checkout) == []
    for url in urls:
        assert not port_is_open(int(url.rsplit(":", 1)[1])), f"a demo left its sandbox serving at {url}"


def test_ctrl_c_stops_the_demo_within_seconds_and_leaves_nothing_running(make_database, tmp_path):
    """Issue 16 item 2 for `payroll demo`: one Ctrl-C while a company-year loads (its report downloads
    made 1 s slow through the sandbox's admin API) stops the demo: exit 130, a line saying what was
    left undone, no traceback, and neither the sandbox nor any other process left running."""
    import requests

    home = tmp_path / "state"
    port = free_port()
    env = demo_env(
        PAYROLL_DATABASE_URL=make_database(), PAYROLL_HOME=str(home), PAYROLL_SANDBOX_PORT=str(port)
    )
    out_path, err_path = tmp_path / "demo.out", tmp_path / "demo.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines", "demo"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        while not port_is_open(port):
            assert process.poll() is None and time.monotonic() < deadline, err_path.read_text()[-3000:]
            time.sleep(0.2)
        requests.post(
            f"http://127.0.0.1:{port}/_admin/faults",
            json={
                "target": "soap:ReportService.Reports_BackgroundTask_Result",
                "kind": "slow",
                "times": None,
                "seconds": 1.0,
            },
            timeout=10,
        ).raise_for_status()
        while not re.search(r"company \d+, year \d+: running", out_path.read_text()):
            assert process.poll() is None and time.monotonic() < deadline, err_path.read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(1.0)  # inside the first company-year's load
        sent = time.monotonic()
        os.killpg(process.pid, 2)  # SIGINT, as Ctrl-C in the terminal
        process.wait(timeout=120)
        seconds = time.monotonic() - sent
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait(timeout=30)
    stdout, stderr = out_path.read_text(), err_path.read_text()
    assert process.returncode == 130, stdout[-3000:] + stderr[-3000:]
    assert seconds < 10, f"took {seconds:.1f} s to stop"
    assert "demo stopped by SIGINT" in stderr and "not started:" in stderr, stderr[-3000:]
    assert "run `payroll demo` again to finish" in stderr
    assert "Traceback" not in stdout + stderr
    assert "[4/4] summary" not in stdout
    assert not port_is_open(port), "the stopped demo left its sandbox serving"
    assert processes_of(home) == []
