"""`make bench`: run every benchmark, print the figures and write benchmarks/RESULTS.md.

    python -m benchmarks.run                       # all five, full sizes, rewrite RESULTS.md
    python -m benchmarks.run --only load --only parse
    python -m benchmarks.run --quick               # small sizes, a smoke run; writes no file unless --output
    python -m benchmarks.run --only scale --companies 200   # the issue's full scale (about an hour on 2 cores)

With --only, the other benchmarks' sections already in the output file are kept. Each benchmark
uses its own fresh database on PAYROLL_BENCH_DATABASE_URL's server (default: the project's database
server, PAYROLL_DATABASE_URL or the embedded one) and drops it afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import re
import sys
import tempfile
import traceback
from pathlib import Path

import psutil

from benchmarks.harness import BenchContext, Section, admin_connection, bench_server_url

BENCHMARKS = {
    "load": "benchmarks.load_throughput",
    "parse": "benchmarks.report_parsing",
    "incremental": "benchmarks.incremental",
    "orchestration": "benchmarks.orchestration",
    "scale": "benchmarks.scale",
}
# Sections a benchmark writes besides its own key: the documented `--companies 200` scale run.
EXTRA_SECTIONS = ("scale_full",)
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION = re.compile(r"<!-- bench:(?P<key>\w+) -->\n(?P<body>.*?)\n<!-- /bench:(?P=key) -->", re.S)


def machine_note(server_url: str) -> str:
    with admin_connection(server_url) as cur:
        cur.execute("show server_version")
        pg_version = cur.fetchone()[0]
    cpu = platform.processor() or "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = psutil.virtual_memory().total / 2**30
    return (
        f"CPU {cpu}, {os.cpu_count()} cores, {ram:.0f} GiB RAM; PostgreSQL {pg_version}; "
        f"Python {platform.python_version()}; {platform.system()} {platform.release()}"
    )


def render(sections: dict[str, str], machine: str, when: str) -> str:
    head = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m benchmarks.run`); do not edit by hand. Each section names the",
        "run it comes from. Targets are those of issues 8 and 15.",
        "",
        f"Machine of the latest run ({when}): {machine}.",
    ]
    body = [
        f"<!-- bench:{key} -->\n{sections[key]}\n<!-- /bench:{key} -->"
        for key in [*BENCHMARKS, *EXTRA_SECTIONS]
        if key in sections
    ]
    return "\n".join(head) + "\n\n" + "\n\n".join(body) + "\n"


def existing_sections(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return {match["key"]: match["body"] for match in SECTION.finditer(path.read_text(encoding="utf-8"))}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    cli.add_argument("--quick", action="store_true", help="small sizes: a smoke run in about a minute")
    cli.add_argument(
        "--only", action="append", choices=sorted(BENCHMARKS), help="run only this one (repeatable)"
    )
    cli.add_argument(
        "--output", type=Path, help="results file (default: benchmarks/RESULTS.md; none with --quick)"
    )
    cli.add_argument("--lines", type=int, help="load: lines in the report (default 1,000,000)")
    cli.add_argument("--peer-lines", type=int, help="load: subset for to_sql and dlt (default 50,000)")
    cli.add_argument(
        "--companies",
        type=int,
        help="scale: companies of the largest size (default 50; the issue's full size is 200)",
    )
    cli.add_argument("--employees", type=int, help="scale: employees per company (default 100)")
    cli.add_argument("--years", type=int, help="scale: years (default 2)")
    cli.add_argument(
        "--source-mode",
        action="append",
        choices=("soap", "rest"),
        help="scale: the source mode to sync (repeatable; default both: rest, then soap)",
    )
    return cli.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    output = args.output or (None if args.quick else RESULTS)
    server_url = bench_server_url()
    machine = machine_note(server_url)
    print(f"machine: {machine}", flush=True)
    selected = args.only or list(BENCHMARKS)
    options = {
        "lines": args.lines,
        "peer_lines": args.peer_lines,
        "companies": args.companies,
        "employees": args.employees,
        "years": args.years,
        "source_modes": args.source_mode,
    }
    when = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    sections = existing_sections(output) if output else {}
    failures = 0
    for key in selected:
        load_before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory(prefix=f"bench-{key}-") as workdir:
            ctx = BenchContext(quick=args.quick, admin_url=server_url, workdir=Path(workdir), options=options)
            ctx.log(f"benchmark {key}: start")
            try:
                section: Section = importlib.import_module(BENCHMARKS[key]).run(ctx)
            except Exception as exc:  # one failing benchmark is reported; the others still run
                failures += 1
                traceback.print_exc()
                section = Section(key, f"{key}: FAILED")
                section.notes.append(
                    f"The benchmark failed: {type(exc).__name__}: {str(exc).splitlines()[0]}"
                )
            elapsed = ctx.log(f"benchmark {key}: done")
        section.notes.append(
            f"Run {when}{' (--quick)' if args.quick else ''} on: {machine}; took {elapsed:.0f} s; load average "
            f"(1 min) {load_before:.1f} at the start and {os.getloadavg()[0]:.1f} at the end on "
            f"{os.cpu_count()} cores (other work shares this machine)."
        )
        text = section.markdown()
        print("\n" + text + "\n", flush=True)
        sections[section.key] = text
        if output:
            output.write_text(render(sections, machine, when), encoding="utf-8")
    if output:
        print(f"results written to {output}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
