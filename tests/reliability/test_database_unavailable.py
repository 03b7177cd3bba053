"""Scenario 6, second half: `payroll sync` with the warehouse database down says so at once.

(A connection dropped mid-COPY is in test_replay_and_crash.py; the loader's own rollback and the
connection error without the password in tests/lib/test_warehouse.py.)
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.support.pipeline import PAYROLL, record_figure

pytestmark = pytest.mark.reliability


def test_payroll_sync_with_the_database_down_fails_at_once_with_the_fix(tmp_path):
    started = time.monotonic()
    result = subprocess.run(
        [PAYROLL, "sync"],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PAYROLL_HOME": str(tmp_path / "home"),
            "PAYROLL_DATABASE_URL": "postgresql://loader:s3cret-pw@127.0.0.1:1/warehouse_db",
            "NMBRS_SOAP_URL": "http://127.0.0.1:9/soap/v3/",
            "NMBRS_USERNAME": "user@example.com",
            "NMBRS_TOKEN": "token-that-must-not-show",
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "cannot connect to the warehouse database 'warehouse_db' on 127.0.0.1:1" in output
    assert "Fix:" in output and "PAYROLL_DATABASE_URL" in output
    assert "Traceback" not in output
    assert "s3cret-pw" not in output and "token-that-must-not-show" not in output
    record_figure("6_database_unavailable_at_start", exit_code=2, seconds_to_error=round(seconds, 1))
