"""What every benchmark shares: the run context, fresh databases, timing, child-process memory, results.

A benchmark module exposes `run(ctx: BenchContext) -> Section`. The Section holds its tables of
figures, the targets it checks (met or missed, and what limits a missed one) and notes; `benchmarks.run`
renders the sections into RESULTS.md.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg2
from psycopg2 import sql

from pipelines.lib import settings

BENCH_URL_VARIABLE = "PAYROLL_BENCH_DATABASE_URL"


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[object]]
    caption: str = ""

    def markdown(self) -> str:
        lines = [f"**{self.caption}**", ""] if self.caption else []
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "---|" * len(self.headers))
        lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in self.rows)
        return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    met: bool
    limit: str = ""

    def row(self) -> tuple[str, str, str, str]:
        verdict = "met" if self.met else "**missed**"
        return (self.name, self.goal, self.measured, verdict + (f": {self.limit}" if self.limit else ""))


@dataclass
class Section:
    key: str
    title: str
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        parts = [f"## {self.title}"]
        parts.extend(table.markdown() for table in self.tables)
        if self.targets:
            parts.append(
                Table(("target", "goal", "measured", "verdict"), [t.row() for t in self.targets]).markdown()
            )
        if self.notes:
            parts.append("\n".join(f"- {note}" for note in self.notes))
        return "\n\n".join(parts)


@dataclass
class BenchContext:
    quick: bool
    admin_url: str
    workdir: Path
    options: Mapping[str, object] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def log(self, message: str) -> float:
        """Print a progress line stamped with the seconds since the benchmark started; return them."""
        elapsed = time.perf_counter() - self.started
        print(f"[{elapsed:7.1f}s] {message}", flush=True)
        return elapsed

    @contextlib.contextmanager
    def database(self, prefix: str) -> Iterator[str]:
        """A fresh, empty database on the benchmark server; dropped afterwards whatever happens."""
        name = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
        with admin_connection(self.admin_url) as cur:
            cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        try:
            yield settings.url_for_database(self.admin_url, name)
        finally:
            with admin_connection(self.admin_url) as cur:
                cur.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@contextlib.contextmanager
def admin_connection(url: str) -> Iterator[psycopg2.extensions.cursor]:
    conn = psycopg2.connect(url, connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def bench_server_url() -> str:
    """PAYROLL_BENCH_DATABASE_URL, else the project's own database (PAYROLL_DATABASE_URL or embedded)."""
    url = os.environ.get(BENCH_URL_VARIABLE, "").strip()
    if url:
        settings.check_database_url(url)
        return url
    return settings.database_url()


def pipeline_env(database_url: str, home: Path, nmbrs: Mapping[str, str]) -> dict[str, str]:
    """Environment for one isolated pipeline instance: its own warehouse, Dagster home and Nmbrs."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("NMBRS_", "PAYROLL_"))}
    env.pop("DAGSTER_HOME", None)
    env.update(
        {
            "PAYROLL_DATABASE_URL": database_url,
            "PAYROLL_HOME": str(home),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DAGSTER_DISABLE_TELEMETRY": "1",
        }
    )
    env.update(nmbrs)
    return env


@dataclass(frozen=True)
class ProcessRun:
    returncode: int
    seconds: float
    max_rss_mb: float
    peak_tree_mb: float
    stdout: str
    stderr: str

    def check(self, what: str) -> ProcessRun:
        if self.returncode != 0:
            tail = "\n".join((self.stderr or self.stdout).strip().splitlines()[-25:])
            raise RuntimeError(f"{what} exited with {self.returncode}:\n{tail}")
        return self


def run_measured(
    args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None, workdir: Path
) -> ProcessRun:
    """Run a command; return its wall time and peak memory.

    `max_rss_mb` is the largest peak resident set (VmHWM) of any single process in the tree;
    `peak_tree_mb` is the largest sum of resident sets over the whole tree. Both come from sampling
    /proc at 20 Hz; VmHWM is the kernel's own high-water mark of each process, so short spikes
    between samples still count. (ru_maxrss is not used: after fork and exec it starts from the
    parent's high-water mark, which is the benchmark's, not the child's.)
    """
    token = uuid.uuid4().hex[:8]
    out_path, err_path = workdir / f"proc-{token}.out", workdir / f"proc-{token}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(args),
            env=dict(env) if env else None,
            cwd=cwd or settings.PROJECT_ROOT,
            stdout=out,
            stderr=err,
        )
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        try:
            proc.wait()
        finally:
            seconds = time.perf_counter() - start
            sampler.stop()
            if proc.poll() is None:  # interrupted: leave no process of ours behind
                _kill_tree(proc.pid)
    result = ProcessRun(
        returncode=proc.returncode,
        seconds=seconds,
        max_rss_mb=sampler.peak_single_bytes / 2**20,
        peak_tree_mb=sampler.peak_tree_bytes / 2**20,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )
    out_path.unlink()
    err_path.unlink()
    return result


def _kill_tree(pid: int) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(processes, timeout=10)


def peak_rss_bytes(pid: int | str = "self") -> int:
    """The kernel's high-water mark of a process's resident set (VmHWM), in bytes; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return 0


class _TreeSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self._pid = pid
        self._done = threading.Event()
        self.peak_tree_bytes = 0
        self.peak_single_bytes = 0

    def run(self) -> None:
        try:
            root = psutil.Process(self._pid)
        except psutil.NoSuchProcess:
            return
        while not self._done.is_set():
            total = 0
            try:
                processes = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in processes:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                    total += process.memory_info().rss
                    self.peak_single_bytes = max(self.peak_single_bytes, peak_rss_bytes(process.pid))
            self.peak_tree_bytes = max(self.peak_tree_bytes, total)
            self._done.wait(0.05)

    def stop(self) -> None:
        self._done.set()
        self.join()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}×" if value >= 0.1 else f"{value:.4f}×"


def fmt_seconds(value: float) -> str:
    return f"{value:.2f} s"


class Stopwatch:
    """`with Stopwatch() as sw: ...` then `sw.seconds`."""

    seconds: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
