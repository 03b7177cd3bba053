"""Isolated pipelines, content hashes and measured figures (the reliability, security and extraction suites).

- `Pipeline`: one sandbox with its own warehouse database and Dagster home; `active()` makes it the
  process environment, `sync()` runs `run_sync()` in it, `subprocess_env()` is the environment for
  a `payroll` child process.
- `content_hashes(url)`: md5 and row count of every table in the raw schemas and the marts, with
  the per-load bookkeeping columns left out, so that two loads of the same data compare equal.
- `record_figure(scenario, **values)`: adds the measured figures of a scenario to
  tests/artifacts/reliability-figures.json (docs/reliability.md quotes them).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2 import sql

from pipelines.lib import settings, warehouse
from pipelines.lib.settings import temporary_env
from tests.support.env import ARTIFACTS, make_env

FIGURES_FILE = ARTIFACTS / "reliability-figures.json"
HASHED_SCHEMAS = ("nmbrs", "nmbrs_restricted", "erp", "marts")
# Columns that say which load wrote a row, or when (marts.dim_companies.payroll_loaded_at), and so
# differ between two loads of the same data by design.
PER_LOAD_COLUMNS = frozenset({"_loaded_at", "_dagster_run_id", "loaded_by_run_id", "payroll_loaded_at"})
PAYROLL = str(Path(sys.executable).with_name("payroll"))

_figures_lock = threading.Lock()


def record_figure(scenario: str, **values: object) -> None:
    """Merge one scenario's figures into the figures file (read, update, write)."""
    with _figures_lock:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        data = json.loads(FIGURES_FILE.read_text()) if FIGURES_FILE.exists() else {}
        data[scenario] = {**data.get(scenario, {}), **values}
        FIGURES_FILE.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def query(url: str, statement: str | sql.Composable, params: tuple = ()) -> list[tuple]:
    return warehouse.fetch_all(url, statement, params)


def content_hashes(url: str, schemas: tuple[str, ...] = HASHED_SCHEMAS) -> dict[str, tuple[int, str]]:
    """{schema.table: (rows, md5 of the sorted rows)} for every base table of `schemas`."""
    columns: dict[str, list[str]] = {}
    for schema, table, column in query(
        url,
        "select c.table_schema, c.table_name, c.column_name from information_schema.columns c "
        "join information_schema.tables t using (table_schema, table_name) "
        "where t.table_type = 'BASE TABLE' and c.table_schema = any(%s) order by c.ordinal_position",
        (list(schemas),),
    ):
        if column not in PER_LOAD_COLUMNS:
            columns.setdefault(f"{schema}.{table}", []).append(column)
    hashes = {}
    for name, cols in sorted(columns.items()):
        row = sql.SQL("row({})::text").format(sql.SQL(", ").join(sql.Identifier(c) for c in cols))
        statement = sql.SQL(
            "select count(*), md5(coalesce(string_agg(r, E'\\n' order by r), '')) from (select {} as r from {}) t"
        ).format(row, sql.Identifier(*name.split(".")))
        count, digest = query(url, statement)[0]
        hashes[name] = (count, digest)
    return hashes


def differing(left: dict[str, tuple[int, str]], right: dict[str, tuple[int, str]]) -> list[str]:
    return [
        f"{name}: {left.get(name)} != {right.get(name)}"
        for name in sorted(set(left) | set(right))
        if left.get(name) != right.get(name)
    ]


def raw_only(hashes: dict[str, tuple[int, str]]) -> dict[str, tuple[int, str]]:
    return {name: value for name, value in hashes.items() if not name.startswith("marts.")}


@dataclass
class Pipeline:
    """A sandbox plus its own warehouse and Dagster instance."""

    sandbox: object
    env: dict[str, str | None]
    database_url: str

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        with temporary_env(self.env):
            settings.prepare_environment(start_embedded=False)
            yield

    def sync(self, **kwargs):
        from pipelines.app.sync import run_sync

        with self.active():
            return run_sync(**kwargs)

    def hashes(self, schemas: tuple[str, ...] = HASHED_SCHEMAS) -> dict[str, tuple[int, str]]:
        return content_hashes(self.database_url, schemas)

    def query(self, statement: str | sql.Composable, params: tuple = ()) -> list[tuple]:
        return query(self.database_url, statement, params)

    def execute(self, statement: str | sql.Composable, params: tuple = ()) -> int:
        """Run a statement and commit; the number of rows it touched."""
        conn = psycopg2.connect(self.database_url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.rowcount
        finally:
            conn.close()

    def subprocess_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("NMBRS_", "DAGSTER_"))}
        env.update({key: value for key, value in self.env.items() if value is not None})
        for key, value in self.env.items():
            if value is None:
                env.pop(key, None)
        return env


def load_partitions_in_parallel(pipeline: Pipeline, batches: list[dict], timeout: float = 900) -> list[dict]:
    """Start one child process per batch ({"keys": [...], "tags": {...}}) at the same time, each
    loading its company-year partitions as Dagster runs; the runs' outcomes, one dict per run."""
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.run_partitions", json.dumps(batch)],
            cwd=settings.PROJECT_ROOT,
            env=pipeline.subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for batch in batches
    ]
    outcomes = []
    for child in children:
        out, err = child.communicate(timeout=timeout)
        assert child.returncode == 0, err[-3000:]
        outcomes += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return outcomes


def new_pipeline(make_database, home: Path, sandbox, **extra: str | None) -> Pipeline:
    url = make_database("payroll_rel")
    env = make_env(url, home, sandbox.env_vars())
    env.update(extra)
    return Pipeline(sandbox, env, url)


@dataclass
class FaultedSync:
    """`payroll sync --company C --full-refresh --no-dbt` in a child process, run while one sandbox
    fault was active (cleared afterwards, whatever happened)."""

    result: subprocess.CompletedProcess
    seconds: float
    rule: object  # the sandbox's fault rule (its `fired` counts the calls it answered)

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr

    @property
    def failed(self) -> list[str]:
        """The `FAILED …` lines the user sees, one per failed partition."""
        return [line for line in self.result.stderr.splitlines() if line.startswith("FAILED ")]


def sync_with_fault(pipeline: Pipeline, key: str, kind: str, company: int = 103, **params) -> FaultedSync:
    faults = pipeline.sandbox.state.faults
    rule = faults.inject(key, kind, times=None, **params)
    started = time.monotonic()
    try:
        result = subprocess.run(
            [PAYROLL, "sync", "--company", str(company), "--full-refresh", "--no-dbt"],
            env=pipeline.subprocess_env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        faults.clear()
    return FaultedSync(result, time.monotonic() - started, rule)


def step_errors(result) -> str:
    return "; ".join(f"{step.name}: {step.error}" for step in result.failures)
