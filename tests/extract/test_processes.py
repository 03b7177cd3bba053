"""`payroll sync` as a process: killed mid-load and re-run gives the rows of an uninterrupted run;
two concurrent syncs share the rotating REST refresh token without locking each other out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.extract.conftest import TABLE_KEYS, Pipeline, expected_partitions

PAYROLL = str(Path(sys.executable).with_name("payroll"))


def _spawn(pipeline: Pipeline, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NMBRS_")}
    for key, value in pipeline.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.Popen(
        [PAYROLL, "sync", "--no-dbt", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _payslip_rows(pipeline: Pipeline) -> int:
    try:
        return pipeline.query("select count(*) from nmbrs.payslips")[0][0]
    except Exception:  # the table does not exist yet
        return 0


@pytest.mark.reliability
def test_sync_killed_mid_load_and_rerun_equals_an_uninterrupted_run(make_pipeline):
    pipeline = make_pipeline("rest+soap", task_seconds=0.5)
    process = _spawn(pipeline)
    deadline = time.monotonic() + 240
    while _payslip_rows(pipeline) == 0 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process.poll() is None, "the sync finished before it could be killed: " + (
        process.stdout.read() or ""
    )
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    process.stdout.close()
    truth = pipeline.sandbox.state.truth
    world = pipeline.sandbox.state.world
    companies = [c.id for c in world.companies()]
    years = sorted({y for c in companies for y in world.years(c)})
    assert pipeline.partition_figures("nmbrs.payslips") != expected_partitions(
        truth, "payslips", companies, years
    )

    rerun = pipeline.sync()

    assert rerun.success, [f"{s.name}: {s.error}" for s in rerun.failures]
    for table in ("wage_components", "payslips"):
        assert pipeline.partition_figures(f"nmbrs.{table}") == expected_partitions(
            truth, table, companies, years
        )
    with pipeline.active(), dg.DagsterInstance.get() as instance:
        unfinished = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert unfinished == []  # the killed run was marked failed and its pool slot freed
        assert instance.event_log_storage.get_concurrency_info("nmbrs_api").claimed_slots == []

    reference = make_pipeline("rest+soap", sandbox=pipeline.sandbox)  # an uninterrupted run, fresh warehouse
    assert reference.sync().success
    for table in TABLE_KEYS:
        assert pipeline.content_hash(table) == reference.content_hash(table), table
        assert pipeline.duplicates(table) == 0, table


@pytest.mark.reliability
def test_two_concurrent_syncs_survive_refresh_token_rotation(make_pipeline):
    # Access tokens live 1 s, so nearly every REST request refreshes and rotates the refresh token.
    pipeline = make_pipeline("rest+soap", access_token_seconds=1)
    first = pipeline.sync()  # connects REST to the sandbox and stores the first refresh token
    assert first.success
    (generation_before,) = pipeline.query("select generation from payroll_private.oauth_tokens")[0]

    processes = [_spawn(pipeline, "--full-refresh") for _ in range(2)]
    outputs = [process.communicate(timeout=600)[0] for process in processes]

    assert [process.returncode for process in processes] == [0, 0], outputs
    (generation_after,) = pipeline.query("select generation from payroll_private.oauth_tokens")[0]
    assert generation_after > generation_before + 2  # the token really rotated during the syncs
    assert pipeline.sync().success  # and the stored refresh token still works afterwards
    for table in TABLE_KEYS:
        assert pipeline.duplicates(table) == 0, table
