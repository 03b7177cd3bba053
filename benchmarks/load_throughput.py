"""Benchmark 1: the same wage-component lines from report XML into PostgreSQL, five ways.

- ours, SOAP path: `iter_report_lines` (streaming parser) → `warehouse.replace_partition` (delete + COPY,
  one transaction);
- ours, REST run-output path: the same lines as one run output document per run (report_xml.
  write_run_outputs, the sandbox's shape) → `parse_run_output` → the product's per-period sum
  (`wage_components_from_run_outputs`) → `warehouse.replace_partition`, as a company-year of a
  REST-only sync loads them;
- pandas `DataFrame.to_sql(method="multi")`, after a plain lxml iterparse;
- dlt's postgres destination, default loader and `loader_file_format="csv"`, after the same iterparse;
- a bare `COPY … FROM STDIN (FORMAT csv)` of the same rows, prepared as a CSV file: the ceiling.
All load into `nmbrs.wage_components` as `ensure_raw_schema` creates it (numeric amounts, partition
index), except dlt, which creates and owns its own table. Every load is checked afterwards: row count
and Σ value equal the generated report's, to the cent.

The slow peers run on a named subset (the first lines of the same report) and their rate is
extrapolated to the full size; the subset is stated next to their figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path

import psycopg2

from benchmarks import peers
from benchmarks.harness import (
    BenchContext,
    Section,
    Stopwatch,
    Table,
    Target,
    fmt_rate,
    fmt_ratio,
    fmt_seconds,
    rate,
)
from benchmarks.report_xml import YEAR, ReportFile, write_period_report, write_run_outputs

TABLE = "nmbrs.wage_components"
COMPANY_ID = 1
LOAD_COLUMNS = ("_loaded_at", "_dagster_run_id", "_source")
LOAD_VALUES = ("2025-01-01 00:00:00+00", "bench", "soap")
LOAD_ALONE_TARGET = 0.5
END_TO_END_TARGET = 0.25
REST_END_TO_END_TARGET = 0.35  # issue 12: the REST run-output path, XML → committed rows
REST_COMPANY = "00000000-0000-4000-8000-000000000001"


def _our_rows(path: Path) -> Iterator[peers.Row]:
    from pipelines.lib.nmbrs.reports import DriftRecorder, iter_report_lines

    with path.open("rb") as stream:
        for line in iter_report_lines(stream, kind="period", year=YEAR, drift=DriftRecorder()):
            yield (
                COMPANY_ID,
                line.year,
                line.period,
                line.employee_id,
                line.code,
                line.description,
                line.value,
                "soap_period_report",
            )


def _rest_rows(report: ReportFile) -> list[tuple]:
    """The run outputs of one company-year as nmbrs.wage_components rows, the way the product
    makes them: every document parsed, then each (period, employee number, code) summed over the runs."""
    from pipelines.defs.nmbrs.source import wage_components_from_run_outputs
    from pipelines.lib.nmbrs.documents import parse_run_output
    from pipelines.lib.nmbrs.records import as_row

    outputs = {
        number: parse_run_output(path.read_bytes(), REST_COMPANY, run_id)
        for run_id, number, path in report.runs
    }
    return [as_row(row) for row in wage_components_from_run_outputs(COMPANY_ID, report.year, outputs)]


def _replace(url: str, year: int, rows: Iterable[peers.Row], source: str = LOAD_VALUES[2]) -> None:
    from pipelines.lib import warehouse

    conn = warehouse.connect(url)
    try:
        warehouse.replace_partition(
            conn,
            TABLE,
            {"company_id": COMPANY_ID, "year": year},
            peers.WAGE_COLUMNS,
            rows,
            source=source,
            run_id=LOAD_VALUES[1],
        )
    finally:
        conn.close()


def _query(url: str, statement: str) -> tuple:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchone()
    finally:
        conn.close()


def _truncate(url: str) -> None:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"truncate {TABLE}")
    finally:
        conn.close()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"vacuum analyze {TABLE}")
    finally:
        conn.close()


def _verify(url: str, table: str, report: ReportFile, method: str) -> None:
    count, total = _query(url, f"select count(*), coalesce(sum(value), 0) from {table}")  # noqa: S608
    if count != report.lines or Decimal(total) != report.total:
        raise RuntimeError(
            f"{method} left {count} rows totalling {total} in {table}; the report has {report.lines} "
            f"lines totalling {report.total}: the load is not exact"
        )


def _drain(rows: Iterable[object]) -> None:
    for _ in rows:
        pass


def _best_of(repeats: int, prepare: Callable[[], None], work: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(repeats):
        prepare()
        with Stopwatch() as sw:
            work()
        best = min(best, sw.seconds)
    return best


def run(ctx: BenchContext) -> Section:
    lines = int(ctx.options.get("lines") or (20_000 if ctx.quick else 1_000_000))
    subset = min(lines, int(ctx.options.get("peer_lines") or (5_000 if ctx.quick else 50_000)))
    repeats = 1 if ctx.quick else 3
    section = Section("load", f"1. Load throughput: {lines:,} wage-component lines into PostgreSQL")

    full = write_period_report(ctx.workdir / "load.xml", lines)
    part = write_period_report(ctx.workdir / "load-subset.xml", subset)
    rest = write_run_outputs(ctx.workdir / "run-outputs", lines)
    if (rest.lines, rest.total) != (full.lines, full.total):
        raise RuntimeError(
            f"the run outputs hold {rest.lines} lines totalling {rest.total}, the SOAP report {full.lines} "
            f"totalling {full.total}: the two paths would not load the same lines"
        )
    csv_path = ctx.workdir / "load.csv"
    ctx.log(f"load: parsing {lines:,} lines once to prepare the CSV and the already-parsed rows")
    parsed = list(_our_rows(full.path))
    peers.write_csv(csv_path, parsed, LOAD_VALUES)

    from pipelines.defs.nmbrs import source  # noqa: F401 (imported before any time is taken)
    from pipelines.lib import warehouse

    with ctx.database("load") as url:
        conn = warehouse.connect(url)
        try:
            warehouse.ensure_raw_schema(conn)
            conn.commit()
        finally:
            conn.close()

        columns = (*peers.WAGE_COLUMNS, *LOAD_COLUMNS)
        empty = lambda: _truncate(url)  # noqa: E731
        ctx.log("load: bare COPY from CSV")
        copy_s = _best_of(repeats, empty, lambda: peers.copy_csv(url, TABLE, columns, csv_path))
        _verify(url, TABLE, full, "bare COPY")
        ctx.log("load: ours, load alone (already-parsed rows)")
        load_s = _best_of(repeats, empty, lambda: _replace(url, full.year, parsed))
        _verify(url, TABLE, full, "our loader (load alone)")
        parsed.clear()
        ctx.log("load: ours, parse alone")
        parse_s = _best_of(repeats, lambda: None, lambda: _drain(_our_rows(full.path)))
        ctx.log("load: ours, XML → committed rows")
        e2e_s = _best_of(repeats, empty, lambda: _replace(url, full.year, _our_rows(full.path)))
        _verify(url, TABLE, full, "our loader (end to end)")
        ctx.log("load: ours, XML replacing the loaded partition")
        replace_s = _best_of(repeats, lambda: None, lambda: _replace(url, full.year, _our_rows(full.path)))
        _verify(url, TABLE, full, "our loader (replacing a partition)")
        ctx.log(f"load: REST run-output path, parse + per-period sum alone ({len(rest.runs)} documents)")
        rest_parse_s = _best_of(repeats, lambda: None, lambda: _drain(_rest_rows(rest)))
        ctx.log("load: REST run-output path, documents → committed rows")
        rest_s = _best_of(repeats, empty, lambda: _replace(url, rest.year, _rest_rows(rest), source="rest"))
        _verify(url, TABLE, rest, "the REST run-output path (end to end)")

        _truncate(url)
        ctx.log(f"load: pandas to_sql(method='multi') on {subset:,} lines")
        with Stopwatch() as to_sql:
            peers.load_with_to_sql(
                url,
                [row + LOAD_VALUES for row in peers.lxml_iterparse_lines(part.path)],
                list(columns),
                "nmbrs",
                "wage_components",
            )
        _verify(url, TABLE, part, "pandas to_sql")

        dlt_seconds: dict[str, float] = {}
        for label, file_format in (("dlt (default loader)", None), ('dlt (loader_file_format="csv")', "csv")):
            dataset = f"dlt_{file_format or 'default'}"
            ctx.log(f"load: {label} on {subset:,} lines")
            with Stopwatch() as sw:
                peers.load_with_dlt(
                    url,
                    (row + LOAD_VALUES for row in peers.lxml_iterparse_lines(part.path)),
                    list(columns),
                    pipelines_dir=ctx.workdir / "dlt",
                    dataset=dataset,
                    loader_file_format=file_format,
                )
            _verify(url, f"{dataset}.wage_components", part, label)
            dlt_seconds[label] = sw.seconds
    for path in (full.path, part.path, csv_path, *(path for _, _, path in rest.runs)):
        path.unlink()

    copy_rate, load_rate, e2e_rate = rate(lines, copy_s), rate(lines, load_s), rate(lines, e2e_s)
    parse_rate = rate(lines, parse_s)
    rest_rate, rest_parse_rate = rate(lines, rest_s), rate(lines, rest_parse_s)
    measured = [
        ("bare COPY from CSV (ceiling)", "CSV → rows", lines, copy_s, copy_rate),
        ("ours: replace_partition, load alone", "parsed rows → rows", lines, load_s, load_rate),
        ("ours: iter_report_lines, parse alone", "XML → Python", lines, parse_s, parse_rate),
        ("ours: iter_report_lines + replace_partition", "XML → rows", lines, e2e_s, e2e_rate),
        (
            "ours: same, replacing the loaded partition",
            "XML → rows",
            lines,
            replace_s,
            rate(lines, replace_s),
        ),
        (
            "ours, REST: parse_run_output + per-period sum, parse alone",
            f"{len(rest.runs)} run outputs → Python",
            lines,
            rest_parse_s,
            rest_parse_rate,
        ),
        (
            "ours, REST: parse_run_output + per-period sum + replace_partition",
            f"{len(rest.runs)} run outputs → rows",
            lines,
            rest_s,
            rest_rate,
        ),
        (
            'pandas to_sql(method="multi", chunksize=1000)',
            "XML → rows",
            subset,
            to_sql.seconds,
            rate(subset, to_sql.seconds),
        ),
        *(
            (label, "XML → rows", subset, seconds, rate(subset, seconds))
            for label, seconds in dlt_seconds.items()
        ),
    ]
    rows = []
    for method, path, count, seconds, method_rate in measured:
        extrapolated = (
            "" if count == lines else f" (≈ {fmt_seconds(lines / method_rate)} for {lines:,}, extrapolated)"
        )
        rows.append(
            (
                method,
                path,
                f"{count:,}",
                fmt_seconds(seconds) + extrapolated,
                fmt_rate(method_rate),
                fmt_ratio(method_rate / copy_rate),
                fmt_ratio(e2e_rate / method_rate),
            )
        )
    section.tables.append(
        Table(("method", "path", "lines", "time", "rows/s", "÷ bare COPY", "ours end to end ÷ this"), rows)
    )
    load_limit = (
        f"replace_partition feeds COPY at {fmt_rate(load_rate)} rows/s while PostgreSQL ingests the same "
        f"rows from a CSV at {fmt_rate(copy_rate)} rows/s: the Python side (row formatting) is the bottleneck"
    )
    e2e_limit = (
        f"parsing alone runs at {fmt_rate(parse_rate)} lines/s and loading alone at {fmt_rate(load_rate)} rows/s; "
        f"parsing is {parse_s / e2e_s:.0%} of the end-to-end time"
    )
    section.targets.append(
        _target("load alone ÷ bare COPY", LOAD_ALONE_TARGET, load_rate / copy_rate, load_limit)
    )
    section.targets.append(
        _target(
            "end to end (XML → committed rows) ÷ bare COPY",
            END_TO_END_TARGET,
            e2e_rate / copy_rate,
            e2e_limit,
        )
    )
    section.targets.append(
        _target(
            "REST run-output path end to end (documents → committed rows) ÷ bare COPY",
            REST_END_TO_END_TARGET,
            rest_rate / copy_rate,
            f"parse_run_output and the per-period sum run at {fmt_rate(rest_parse_rate)} lines/s and are "
            f"{rest_parse_s / rest_s:.0%} of the REST path's time (each document is parsed whole, not streamed)",
        )
    )
    section.notes.append(
        f"REST run-output path ÷ SOAP report path, end to end, same lines: {fmt_ratio(rest_rate / e2e_rate)} "
        f"({fmt_rate(rest_rate)} against {fmt_rate(e2e_rate)} rows/s)."
    )
    best_dlt = max(rate(subset, seconds) for seconds in dlt_seconds.values())
    section.targets.append(_target("end to end ÷ dlt at its best", 10, e2e_rate / best_dlt, e2e_limit))
    section.targets.append(
        _target("end to end ÷ pandas to_sql", 40, e2e_rate / rate(subset, to_sql.seconds), e2e_limit)
    )
    section.notes.extend(
        [
            f"Times are the best of {repeats} runs for COPY and ours (each into an emptied, vacuumed table); the "
            f"peers ran once on the first {subset:,} lines of the same report (a named subset) and their time "
            f"for {lines:,} lines is extrapolated from their rate.",
            "Every load was checked: row count and Σ value equal the report's, to the cent. Amounts are "
            "Decimal in Python and numeric in PostgreSQL throughout (dlt: numeric(38,9)).",
            "COPY, ours and to_sql load the same 11 columns (8 data + 3 load columns) into the same table with "
            "its partition index; dlt writes its own table (plus _dlt_load_id, _dlt_id) without that index.",
            "Peers parse the XML with plain lxml iterparse; ours with iter_report_lines.",
            f"The REST run-output path loads the same {lines:,} lines (same employees, codes and cents) from "
            f"{len(rest.runs)} run output documents in the sandbox's shape (one per run, run N holding period N), "
            "read from files as the documents endpoint delivers them; its rows carry the product's keys "
            "(employee number) and source `run_output`, and were checked like the others: count and Σ value "
            "to the cent.",
        ]
    )
    return section


def _target(name: str, goal: float, value: float, limit: str) -> Target:
    met = value >= goal
    return Target(name, f"≥ {goal}×", fmt_ratio(value), met, "" if met else limit)
