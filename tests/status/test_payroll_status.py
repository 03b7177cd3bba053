"""`payroll status` on real pipelines: the shared synced demo (its deliberate ERP differences make a
check fail and leave differences open) and a demo whose ERP agrees with the payroll (healthy).

The clock is pinned: `collect(now=...)` is given a moment derived from the sync's own runs, never
today's date. Only the command as a monitor runs it reads the real clock, minutes after the sync.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.app.status import collect
from pipelines.defs.nmbrs.partitions import split_company_year
from pipelines.lib import status_report
from pipelines.lib.settings import PROJECT_ROOT, temporary_env
from pipelines.lib.status_report import ATTENTION_CHECKS, ATTENTION_RECONCILIATION, ATTENTION_SYNC
from pipelines.sandbox import erp, ledger
from tests.support import pipeline as support
from tests.support.sandboxes import sandboxes

RECONCILIATION_CHECK = ("payroll_gl_reconciliation", "reconciliation_within_tolerance")


def run_window(run_id: str) -> tuple[dt.datetime, dt.datetime]:
    """When a run of the active instance started and ended."""
    with dg.DagsterInstance.get() as instance:
        record = instance.get_run_record_by_id(run_id)
    return (
        dt.datetime.fromtimestamp(record.start_time, dt.UTC),
        dt.datetime.fromtimestamp(record.end_time, dt.UTC),
    )


def sync_ended(result) -> dt.datetime:
    return run_window(result.steps[-1].run_id)[1]


def company_year_steps(result) -> list:
    return [step for step in result.steps if step.partition]


def write_agreeing_erp(folder: Path, world) -> Path:
    """ERP files that book exactly what the payroll posts: the demo's files without its deliberate
    differences."""
    folder.mkdir(parents=True)
    with (folder / "chart_of_accounts.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["account", "name", "statement"])
        writer.writerows(erp.CHART_OF_ACCOUNTS)
    with (folder / "gl_movements.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["entity", "account", "year", "month", "amount"])
        for (_, entity, year, month, account), amount in sorted(erp.payroll_gl(world).items()):
            writer.writerow([entity, account, year, month, f"{amount:.2f}"])
    return folder


@pytest.fixture(scope="module")
def healthy(make_database, tmp_path_factory):
    """Its own demo sandbox and warehouse, synced with ERP files that agree with the payroll, and
    Nmbrs's journals booked as our mapping books (no ledger difference)."""
    with sandboxes() as start:
        server = start(ledger_difference=False)
        home = tmp_path_factory.mktemp("status-healthy")
        erp_dir = write_agreeing_erp(tmp_path_factory.mktemp("status-erp") / "erp", server.state.world)
        pipeline = support.new_pipeline(make_database, home, server, PAYROLL_ERP_DIR=str(erp_dir))
        result = pipeline.sync()
        assert result.success, support.step_errors(result)
        yield pipeline, result


def test_a_healthy_pipeline_is_all_well_and_exits_0(healthy):
    pipeline, result = healthy
    with pipeline.active():
        now = sync_ended(result) + dt.timedelta(hours=1)
        status = collect(now=now)

    assert [c.company_id for c in status.companies] == ["101", "102", "103"]
    assert {c.state(now, status.stale_after) for c in status.companies} == {"ok"}
    assert [c.company_years for c in status.companies] == [len(company_year_steps(result)) // 3] * 3
    assert all(dt.timedelta(hours=1) <= c.age(now) < dt.timedelta(hours=2) for c in status.companies)
    assert status.checks > 50 and status.failing_checks == ()
    gl, three_way = status.reconciliations
    assert gl.built and gl.open == 0
    assert (
        three_way.mart == "marts.payroll_three_way_reconciliation" and three_way.built and three_way.open == 0
    )
    # The default source mode is rest (REST is configured): SOAP is not in use, so no sunset line.
    assert status.source_mode == "rest" and status.soap_sunset is None
    assert status.exit_code() == 0

    lines = list(status_report.render(status))
    assert lines[0].endswith(": all is well")
    assert "SOAP in use" not in "\n".join(lines)
    assert any(line.startswith("  OK     101  Bakkerij de Vries B.V.") for line in lines)
    assert "Reconciliation (marts.payroll_gl_reconciliation): 0 open" in lines

    # As a monitor runs it: the command's exit code and its JSON, on the real clock minutes later.
    for args in ((), ("--json",)):
        done = subprocess.run(
            [sys.executable, "-m", "pipelines", "status", *args],
            cwd=PROJECT_ROOT,
            env=pipeline.subprocess_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["exit_code"] == 0 and report["attention"] == []
    assert [c["state"] for c in report["companies"]] == ["ok", "ok", "ok"]
    assert report["source"] == {"mode": "rest", "demo": False, "soap_sunset": None}


def test_a_company_whose_latest_sync_failed_needs_attention_until_a_sync_succeeds(healthy):
    pipeline, _ = healthy
    faults = pipeline.sandbox.state.faults
    faults.inject("rest:runs", "forbidden", times=None)  # 403 code 40303: not retried
    try:
        failed = pipeline.sync(companies=[103], include_dbt=False, full_refresh=True)
    finally:
        faults.clear()
    assert not failed.success and failed.failures

    with pipeline.active():
        now = sync_ended(failed) + dt.timedelta(hours=1)
        status = collect(now=now)
    companies = {company.company_id: company for company in status.companies}
    assert companies["103"].state(now, status.stale_after) == "failed"
    assert {run.partition for run in companies["103"].failed_runs} == {s.partition for s in failed.failures}
    for run in companies["103"].failed_runs:
        assert 'cannot see company 103 "Studio O\'Brien; Design"' in run.error, run.error
    assert {companies[c].state(now, status.stale_after) for c in ("101", "102")} == {"ok"}
    assert status.exit_code() == ATTENTION_SYNC
    text = "\n".join(status_report.render(status))
    assert "needs attention: sync (1 company)" in text
    assert "  FAILED 103  Studio O'Brien; Design" in text
    assert f"latest run of {failed.failures[0].partition} failed at" in text

    recovered = pipeline.sync(companies=[103], include_dbt=False)
    assert recovered.success, support.step_errors(recovered)
    with pipeline.active():
        status = collect(now=sync_ended(recovered) + dt.timedelta(hours=1))
    assert status.exit_code() == 0


def test_a_failed_check_and_open_differences_need_attention(synced_demo, sandbox):
    now = sync_ended(synced_demo) + dt.timedelta(hours=1)
    status = collect(now=now)

    failing = {(check.asset, check.check): check for check in status.failing_checks}
    assert list(failing) == [RECONCILIATION_CHECK]
    check = failing[RECONCILIATION_CHECK]
    assert check.severity == "WARN" and check.partition is None
    assert check.description == "3 month/account combinations do not reconcile"

    # The open differences are the sandbox's three deliberate ones, largest first.
    gl, three_way = status.reconciliations
    assert gl.open_by_status == {"difference": 1, "missing_in_erp": 1, "missing_in_payroll": 1}
    # The three-way reconciliation names the same three by the side that disagrees, and Nmbrs's own
    # ledger difference (ledger.NMBRS_DIFFERENCE) on its two accounts.
    assert three_way.open_by_status == {
        "mapping_differs_from_nmbrs": 2,
        "erp_differs_from_journal": 1,
        "missing_in_erp": 1,
        "missing_in_payroll": 1,
    }
    assert {(d.entity, d.account, d.status) for d in three_way.largest} >= {
        ("NL01", ledger.NMBRS_DIFFERENCE.mapping_account, "mapping_differs_from_nmbrs"),
        ("NL01", ledger.NMBRS_DIFFERENCE.nmbrs_account, "mapping_differs_from_nmbrs"),
        ("NL01", "4000", "erp_differs_from_journal"),
    }
    first_year = sandbox.state.world.config.first_year
    assert {(d.entity, d.account, d.year, d.month, d.status) for d in gl.largest} == {
        (d.entity, d.account, first_year + d.year_offset, d.month, d.kind) for d in erp.DELIBERATE_DIFFERENCES
    }
    amounts = {d.status: d.difference for d in gl.largest}
    assert amounts["difference"] == -erp.DELIBERATE_DIFFERENCES[0].erp_change
    assert amounts["missing_in_payroll"] == -erp.DELIBERATE_DIFFERENCES[2].erp_change
    assert [abs(d.difference) for d in gl.largest] == sorted(
        (abs(d.difference) for d in gl.largest), reverse=True
    )

    # Every company is fresh: only the checks and the reconciliation need attention.
    assert status.exit_code() == ATTENTION_CHECKS | ATTENTION_RECONCILIATION == 24
    assert status.attention() == ["checks (1 failing)", "reconciliation (8 open)"]  # 3 two-way + 5 three-way
    text = "\n".join(status_report.render(status))
    assert "needs attention: checks (1 failing), reconciliation (8 open)" in text
    assert (
        "  WARN  payroll_gl_reconciliation / reconciliation_within_tolerance: "
        "3 month/account combinations do not reconcile" in text
    )
    assert "exit code 24" in text


def test_a_company_synced_longer_ago_than_the_threshold_is_stale(synced_demo):
    steps = company_year_steps(synced_demo)
    last_company = split_company_year(steps[-1].partition)[0]
    first_of_last = next(step for step in steps if split_company_year(step.partition)[0] == last_company)
    # The moment the last company began syncing, one threshold later: every company before it is
    # older than the threshold, the last one is not.
    started = run_window(first_of_last.run_id)[0]
    stale_after = dt.timedelta(days=35)  # the documented default of PAYROLL_STALE_AFTER_DAYS
    now = started + stale_after
    status = collect(now=now)

    assert status.stale_after == stale_after
    states = {company.company_id: company.state(now, stale_after) for company in status.companies}
    assert states.pop(str(last_company)) == "ok"
    assert states and set(states.values()) == {"stale"}
    assert status.exit_code() & ATTENTION_SYNC
    assert status.exit_code() == ATTENTION_SYNC | ATTENTION_CHECKS | ATTENTION_RECONCILIATION
    assert status.attention()[0] == f"sync ({len(states)} companies)"
    lines = list(status_report.render(status))
    for company_id in states:
        assert any(line.startswith(f"  STALE  {company_id}  ") and "(35 days ago)" in line for line in lines)

    # The threshold is a setting: a longer one makes the same moment fresh for every company.
    with temporary_env({"PAYROLL_STALE_AFTER_DAYS": "36"}):
        relaxed = collect(now=now)
    assert {company.state(now, relaxed.stale_after) for company in relaxed.companies} == {"ok"}
    assert not relaxed.exit_code() & ATTENTION_SYNC
