"""Run `dbt build` bare (no Dagster) against a benchmark's warehouse, in a child process."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from benchmarks.harness import ProcessRun, run_measured
from pipelines.lib import settings

DBT = str(Path(sys.executable).with_name("dbt"))


def dbt_env(env: Mapping[str, str], workdir: Path) -> dict[str, str]:
    """The pipeline env plus what profiles.yml reads; target and logs in the benchmark's own folder."""
    parts = settings.dsn_parts(env["PAYROLL_DATABASE_URL"])
    return {
        **env,
        "PAYROLL_DB_HOST": parts.host,
        "PAYROLL_DB_PORT": str(parts.port),
        "PAYROLL_DB_USER": parts.user,
        "PAYROLL_DB_PASSWORD": parts.password,
        "PAYROLL_DB_NAME": parts.dbname,
        "DBT_TARGET_PATH": str(workdir / "dbt-target"),
        "DBT_LOG_PATH": str(workdir / "dbt-logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def dbt_build(env: Mapping[str, str], workdir: Path, *args: str) -> ProcessRun:
    """`dbt build` (seeds, models, tests) of the project, by default in full; `args` are added to
    the command line. Raises with dbt's output on failure. The target folder is workdir's own: a
    second build in the same workdir parses partially, as a data engineer's second build would."""
    project = str(settings.DBT_PROJECT_DIR)
    workdir.mkdir(parents=True, exist_ok=True)
    return run_measured(
        [DBT, "build", "--project-dir", project, "--profiles-dir", project, *args],
        env=dbt_env(env, workdir),
        workdir=workdir,
    ).check(" ".join(["dbt build", *args]))
