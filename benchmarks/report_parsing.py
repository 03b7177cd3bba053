"""Benchmark 2: report parsing, lines/s and peak RSS, ours against plain lxml iterparse.

Each (parser, size) runs in its own child process (`python -m benchmarks.report_parsing --child …`),
so that its peak RSS (the kernel's VmHWM high-water mark) belongs to that parse alone. The child also reports
its RSS before parsing (interpreter + imports) and the exact total of the values it read, which
must equal the generator's total to the cent.
Target: peak RSS at 1M lines ≤ 1.5× at 10k lines.
"""

from __future__ import annotations

import argparse
import json
import time
from decimal import Decimal
from pathlib import Path

import psutil

from benchmarks.harness import (
    BenchContext,
    Section,
    Table,
    Target,
    fmt_rate,
    fmt_ratio,
    peak_rss_bytes,
    python_module,
    rate,
    run_measured,
)
from benchmarks.report_xml import YEAR, write_period_report

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 5_000, 20_000)
PARSERS = ("ours", "lxml iterparse")
RSS_GROWTH_LIMIT = 1.5


def _parse_ours(path: Path) -> tuple[int, Decimal]:
    from pipelines.lib.nmbrs.reports import DriftRecorder, iter_report_lines

    count, total = 0, Decimal(0)
    with path.open("rb") as stream:
        for line in iter_report_lines(stream, kind="period", year=YEAR, drift=DriftRecorder()):
            count += 1
            total += line.value
    return count, total


def _parse_lxml(path: Path) -> tuple[int, Decimal]:
    from benchmarks.peers import lxml_iterparse_lines

    count, total = 0, Decimal(0)
    for row in lxml_iterparse_lines(path):
        count += 1
        total += row[6]
    return count, total


def child_main(parser: str, path: Path) -> None:
    parse = _parse_ours if parser == "ours" else _parse_lxml
    if parser == "ours":
        import pipelines.lib.nmbrs.reports  # noqa: F401  (imports belong to the baseline, not the parse)
    else:
        import benchmarks.peers  # noqa: F401
    baseline = psutil.Process().memory_info().rss
    start = time.perf_counter()
    count, total = parse(path)
    seconds = time.perf_counter() - start
    peak = peak_rss_bytes()
    print(
        json.dumps(
            {"lines": count, "total": str(total), "seconds": seconds, "baseline": baseline, "peak": peak}
        )
    )


def run(ctx: BenchContext) -> Section:
    sizes = QUICK_SIZES if ctx.quick else SIZES
    section = Section("parse", "2. Report parsing: lines/s and peak RSS")
    measured: dict[tuple[str, int], dict] = {}
    for size in sizes:
        report = write_period_report(ctx.workdir / f"parse-{size}.xml", size)
        for parser in PARSERS:
            ctx.log(f"parse: {parser} on {size:,} lines")
            proc = run_measured(
                python_module("benchmarks.report_parsing", "--child", parser, str(report.path)),
                workdir=ctx.workdir,
            ).check(f"parsing {size} lines with {parser}")
            figures = json.loads(proc.stdout.strip().splitlines()[-1])
            if figures["lines"] != report.lines or Decimal(figures["total"]) != report.total:
                raise RuntimeError(
                    f"{parser} read {figures['lines']} lines totalling {figures['total']} from a report of "
                    f"{report.lines} lines totalling {report.total}: the parse is not exact"
                )
            measured[(parser, size)] = figures
        report.path.unlink()

    rows = []
    for size in sizes:
        ours, peer = measured[("ours", size)], measured[("lxml iterparse", size)]
        ours_rate, peer_rate = rate(size, ours["seconds"]), rate(size, peer["seconds"])
        rows.append(
            (
                f"{size:,}",
                fmt_rate(ours_rate),
                fmt_rate(peer_rate),
                fmt_ratio(ours_rate / peer_rate),
                _mb(ours["peak"]),
                _mb(ours["peak"] - ours["baseline"]),
                _mb(peer["peak"]),
                _mb(peer["peak"] - peer["baseline"]),
            )
        )
    section.tables.append(
        Table(
            (
                "lines",
                "ours lines/s",
                "lxml iterparse lines/s",
                "ours ÷ lxml",
                "ours peak RSS",
                "ours growth over baseline",
                "lxml peak RSS",
                "lxml growth over baseline",
            ),
            rows,
        )
    )
    small, large = sizes[0], sizes[-1]
    growth = measured[("ours", large)]["peak"] / measured[("ours", small)]["peak"]
    section.targets.append(
        Target(
            f"peak RSS at {large:,} lines ÷ at {small:,}",
            f"≤ {RSS_GROWTH_LIMIT}×",
            fmt_ratio(growth),
            growth <= RSS_GROWTH_LIMIT,
            "" if growth <= RSS_GROWTH_LIMIT else "the parser keeps per-line state as the report grows",
        )
    )
    section.notes.append(
        "Each parse runs in a fresh child process; peak RSS is its VmHWM (the kernel's high-water mark), the baseline its RSS after "
        "imports and before parsing. Every parser's line count and value total equal the generator's, to the cent."
    )
    section.notes.append(
        "Values are parsed to Decimal by both parsers; half the employees use comma decimals."
    )
    return section


def _mb(value: float) -> str:
    return f"{value / 2**20:.1f} MB"


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description="child process of the report-parsing benchmark")
    cli.add_argument("--child", choices=PARSERS, required=True)
    cli.add_argument("path", type=Path)
    arguments = cli.parse_args()
    child_main(arguments.child, arguments.path)
