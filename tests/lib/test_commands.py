"""`payroll connect` and `payroll doctor`, run as the user runs them (subprocesses) against the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.lib.nmbrs.soap import REQUIRED_OPERATIONS

PAYROLL = str(Path(sys.executable).with_name("payroll"))


def run(args: list[str], env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NMBRS_", "PAYROLL_", "DAGSTER_"))}
    return subprocess.run(
        [PAYROLL, *args], env={**base, **env}, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def cli_env(sb, warehouse_url, tmp_path) -> dict[str, str]:
    return {**sb.env_vars(), "PAYROLL_DATABASE_URL": warehouse_url, "PAYROLL_HOME": str(tmp_path)}


def test_connect_then_doctor_reports_active(cli_env):
    connected = run(["connect", "--auto-approve-sandbox"], cli_env)
    assert connected.returncode == 0, connected.stderr
    assert "/connect/authorize?" in connected.stdout and "Connected" in connected.stdout
    doctor = run(["doctor"], cli_env)  # the default mode: rest
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert doctor.stdout.rstrip().endswith("Active")
    assert "source mode rest" in doctor.stdout and "REST delivers complete data" in doctor.stdout
    assert "retires the SOAP API" not in doctor.stdout and "permission " not in doctor.stdout
    both = run(["doctor"], {**cli_env, "NMBRS_SOURCE_MODE": "rest+soap"})
    assert both.returncode == 0, both.stdout + both.stderr
    assert both.stdout.rstrip().endswith("Active")
    for operation in REQUIRED_OPERATIONS:
        assert f"permission {operation}" in both.stdout
    assert "Nmbrs retires the SOAP API on 2027-03-01" in " ".join(both.stdout.split())
    for output in (doctor, both):
        assert cli_env["NMBRS_TOKEN"] not in output.stdout + output.stderr
        assert cli_env["NMBRS_CLIENT_SECRET"] not in output.stdout + output.stderr


@pytest.mark.parametrize("operation", REQUIRED_OPERATIONS)
def test_doctor_names_the_missing_permission(sb, cli_env, operation):
    token = sb.state.add_token(set(REQUIRED_OPERATIONS) - {operation})
    result = run(["doctor"], {**cli_env, "NMBRS_TOKEN": token, "NMBRS_SOURCE_MODE": "soap"})
    assert result.returncode == 1
    failing = [line for line in result.stdout.splitlines() if "FAIL" in line]
    assert len(failing) == 1 and f"permission {operation}" in failing[0], result.stdout
    assert f"allow {operation} in Nmbrs under API user templates" in " ".join(result.stdout.split())
    assert "Not active: 1 problem(s)" in result.stdout
    assert token not in result.stdout + result.stderr


def test_doctor_without_a_rest_connection_says_to_connect(cli_env):
    result = run(["doctor"], {**cli_env, "NMBRS_SOURCE_MODE": "rest"})
    assert result.returncode == 1
    assert "no REST connection is stored; run `payroll connect`" in result.stdout


def test_doctor_with_wrong_credentials_names_the_settings(cli_env):
    result = run(["doctor"], {**cli_env, "NMBRS_TOKEN": "not-a-token", "NMBRS_SOURCE_MODE": "soap"})
    assert result.returncode == 1
    assert "SOAP credentials" in result.stdout and "NMBRS_USERNAME" in result.stdout
    assert "not-a-token" not in result.stdout + result.stderr


def test_partial_configuration_is_a_configuration_error(cli_env):
    env = {k: v for k, v in cli_env.items() if k != "NMBRS_TOKEN"}
    result = run(["doctor"], {**env, "NMBRS_SOURCE_MODE": "rest+soap"})
    assert result.returncode == 2
    assert "NMBRS_TOKEN" in result.stderr
