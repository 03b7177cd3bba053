"""Issue 16 item 2: one SIGINT (Ctrl-C) or SIGTERM stops `payroll sync` within seconds.

`payroll sync --full-refresh` runs in a child process against the reference sandbox with every
report download made 1 s slow; once a COPY into a raw table is open (a partition is being written),
the signal is sent. The sync must end within a few seconds with 130 (SIGINT) or 143 (SIGTERM) and a
line that says what was rolled back and what was not started, leave no Dagster run unfinished and
every raw table and mart as it was.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import dagster as dg
import pytest

from tests.reliability.test_replay_and_crash import RESULT_CALL, wait_for_copy
from tests.support.pipeline import PAYROLL, differing, record_figure


@pytest.fixture
def reference(soap_reference):
    """A COPY held open by a slow download: the SOAP reports stream into their COPY (source mode
    soap); the REST run output is read whole before its rows are written."""
    return soap_reference


pytestmark = pytest.mark.reliability

STOP_WITHIN_SECONDS = 10


def _unfinished_runs(pipeline) -> list:
    with pipeline.active(), dg.DagsterInstance.get() as instance:
        return instance.get_runs(
            filters=dg.RunsFilter(
                statuses=[
                    dg.DagsterRunStatus.STARTED,
                    dg.DagsterRunStatus.STARTING,
                    dg.DagsterRunStatus.NOT_STARTED,
                    dg.DagsterRunStatus.QUEUED,
                ]
            )
        )


@pytest.mark.parametrize(
    ("signum", "code", "to_group"),
    [(signal.SIGINT, 130, True), (signal.SIGTERM, 143, False)],
    ids=["sigint-ctrl-c", "sigterm"],
)
def test_a_signal_during_extraction_stops_the_sync_within_seconds_and_changes_nothing(
    reference, signum, code, to_group
):
    pipeline, sandbox = reference.pipeline, reference.sandbox
    name = signal.Signals(signum).name
    home = pipeline.env["PAYROLL_HOME"]
    out_path, err_path = f"{home}/signal-{name}.out", f"{home}/signal-{name}.err"
    sandbox.state.faults.inject(RESULT_CALL, "slow", times=None, seconds=1.0)
    with open(out_path, "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen(
            [PAYROLL, "sync", "--full-refresh"],
            env=pipeline.subprocess_env(),
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            _backend, statement = wait_for_copy(pipeline, 240, alive=lambda: process.poll() is None)
            # Ctrl-C in a terminal signals the whole foreground process group; a service manager's
            # stop (systemd, Kubernetes) sends SIGTERM to the process.
            sent = time.monotonic()
            if to_group:
                os.killpg(process.pid, signum)
            else:
                process.send_signal(signum)
            try:
                process.wait(timeout=120)
            finally:
                seconds = time.monotonic() - sent
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
            sandbox.state.faults.clear()
    stdout, stderr = open(out_path).read(), open(err_path).read()

    assert process.returncode == code, (process.returncode, stdout[-2000:], stderr[-3000:])
    assert seconds < STOP_WITHIN_SECONDS, f"took {seconds:.1f} s to stop after {name}"
    assert f"stopped by {name}" in stderr
    assert "rolled back, its previous rows are kept" in stderr
    assert "not started:" in stderr and "ERP files + dbt build" in stderr.split("not started:")[1]
    assert "Traceback" not in stderr
    assert differing(pipeline.hashes(), reference.hashes) == [], "the stopped sync changed rows"
    assert _unfinished_runs(pipeline) == [], "the stopped sync left a Dagster run unfinished"
    record_figure(
        f"16_2_{name.lower()}_during_extraction",
        signal=name,
        sent_during=f"COPY into {statement.split()[1]}",
        exit_code=process.returncode,
        seconds_to_stop=round(seconds, 2),
        message=[line for line in stderr.splitlines() if f"stopped by {name}" in line][0],
    )
