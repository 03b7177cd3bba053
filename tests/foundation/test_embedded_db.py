"""The embedded PostgreSQL: started on demand, reused when running, stopped with nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import psycopg2
import pytest

from pipelines.lib.settings import temporary_env

pytestmark = pytest.mark.embedded


def _server_processes(pgdata) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(pgdata) in cmdline:
            found.append(proc)
    return found


def _payroll(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def isolated_home(tmp_path):
    home = tmp_path / "state"
    home.mkdir()
    tmp_path.chmod(0o755)  # the server runs as user `pgserver` when we are root
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PAYROLL_", "DAGSTER_"))}
    env["PAYROLL_HOME"] = str(home)
    yield home, env
    _payroll("db", "stop", env=env)


def test_start_twice_reuses_the_server_and_stop_leaves_no_process(isolated_home):
    home, env = isolated_home
    first = _payroll("db", "start", env=env)
    assert first.returncode == 0, first.stderr
    url = next(
        line.split("=", 1)[1]
        for line in first.stdout.splitlines()
        if line.startswith("PAYROLL_DATABASE_URL=")
    )
    pids = {p.pid for p in _server_processes(home / "pgdata")}
    assert pids, "no server process found after `payroll db start`"

    second = _payroll("db", "start", env=env)
    assert second.returncode == 0, second.stderr
    assert {p.pid for p in _server_processes(home / "pgdata")} >= pids, "second start replaced the server"

    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("select current_database()")
        assert cur.fetchone()[0] == "payroll"
    conn.close()

    status = _payroll("db", "status", env=env)
    assert status.returncode == 0 and "running" in status.stdout

    stopped = _payroll("db", "stop", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert _server_processes(home / "pgdata") == []
    after = _payroll("db", "status", env=env)
    assert after.returncode == 1 and "stopped" in after.stdout


def test_prepare_environment_uses_the_embedded_server_for_dagster_and_dbt(isolated_home):
    from pipelines.lib import settings

    home, env = isolated_home
    with temporary_env(
        {**{k: None for k in os.environ if k.startswith(("PAYROLL_", "DAGSTER_"))}, "PAYROLL_HOME": str(home)}
    ):
        values = settings.prepare_environment()
        assert values["DAGSTER_HOME"] == str(settings.PROJECT_ROOT)  # the repository's dagster.yaml
        assert values["PAYROLL_DB_HOST"] == str(home / "pgdata") or values["PAYROLL_DB_HOST"].startswith("/")

        from dagster import DagsterInstance

        instance = DagsterInstance.get()
        try:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert instance.get_runs_count() == 0
            assert instance.root_directory == str(home / "dagster")
        finally:
            instance.dispose()
