"""Benchmark 5: the sandbox's `scale` scenario, synced in full.

For two sizes (by default 20 companies × 100 employees × 2 years, and one tenth of the companies
and of the employees; `--companies 200` for the issue's full example size): a fresh sandbox, warehouse and Dagster instance, then `payroll sync` in a child
process: wall time, peak RSS (the largest process, and the whole process tree sampled at 20 Hz, dbt
included), SOAP and REST calls as the sandbox counted them; then a bare `dbt build` of the synced
warehouse, timed. API calls per company-year must stay the same when employees grow (they grow with
companies × years and the runs Nmbrs made, never with employees × periods).
Target: peak RSS of the full sync < 1 GB.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg2

from benchmarks.dbt_cli import dbt_build
from benchmarks.harness import (
    BenchContext,
    Section,
    Table,
    Target,
    fmt_seconds,
    pipeline_env,
    run_measured,
)

PAYROLL = str(Path(sys.executable).with_name("payroll"))
RSS_LIMIT_MB = 1024
FULL_COMPANIES = 200  # the example size; extrapolated to when the run is smaller
DEFAULT_COMPANIES = 20  # what fits the 30-minute `make bench` budget with one Dagster run per company-year
CALLS_TOLERANCE = 0.10


def _count(url: str, table: str) -> int:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"select count(*) from {table}")  # noqa: S608 (a fixed table name of ours)
            return cur.fetchone()[0]
    finally:
        conn.close()


def _sync_once(ctx: BenchContext, companies: int, employees: int, years: int) -> dict:
    from pipelines.sandbox.server import SandboxServer

    sandbox = SandboxServer.start(
        scenario="scale", seed=42, companies=companies, employees_per_company=employees, years=years
    )
    try:
        with ctx.database(f"scale{companies}x{employees}") as url:
            env = pipeline_env(url, ctx.workdir / f"home-{companies}x{employees}", sandbox.env_vars())
            env["PAYROLL_START_YEAR"] = str(sandbox.state.config.first_year)
            sandbox.state.counters.reset()
            ctx.log(f"scale: payroll sync of {companies} companies × {employees} employees × {years} years")
            sync = run_measured([PAYROLL, "sync"], env=env, workdir=ctx.workdir).check("payroll sync")
            calls = sandbox.state.counters.snapshot()
            ctx.log("scale: bare dbt build of the synced warehouse")
            dbt = dbt_build(env, ctx.workdir / f"dbt-{companies}x{employees}")
            runs = _count(url, "nmbrs.payroll_runs")
            return {
                "companies": companies,
                "employees": employees,
                "years": years,
                "company_years": _count_company_years(url),
                "runs": runs,
                "wage_rows": _count(url, "nmbrs.wage_components"),
                "payslip_rows": _count(url, "nmbrs.payslips"),
                "sync": sync,
                "dbt": dbt.seconds,
                "soap": sum(n for key, n in calls["calls"].items() if key.startswith("soap:")),
                "rest": sum(n for key, n in calls["calls"].items() if key.startswith("rest:")),
                "other": sum(
                    n for key, n in calls["calls"].items() if not key.startswith(("soap:", "rest:"))
                ),
                "max_in_flight": calls["max_in_flight"],
            }
    finally:
        sandbox.stop()


def _count_company_years(url: str) -> int:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "select count(*) from (select distinct company_id, year from nmbrs.wage_components) s"
            )
            return cur.fetchone()[0]
    finally:
        conn.close()


def run(ctx: BenchContext) -> Section:
    companies = int(ctx.options.get("companies") or (4 if ctx.quick else DEFAULT_COMPANIES))
    employees = int(ctx.options.get("employees") or (3 if ctx.quick else 100))
    years = int(ctx.options.get("years") or (1 if ctx.quick else 2))
    sizes = [(companies, employees), (max(1, companies // 10), max(1, employees // 10))]
    if ctx.quick:
        sizes = [(companies, employees), (max(1, companies // 2), 1)]
    section = Section(
        "scale", f"5. Scale: full sync of the sandbox's scale scenario ({companies} × {employees} × {years})"
    )
    results = [_sync_once(ctx, c, e, years) for c, e in sizes]

    rows = []
    for r in results:
        calls = r["soap"] + r["rest"]
        rows.append(
            (
                f"{r['companies']} × {r['employees']} × {r['years']}",
                f"{r['wage_rows']:,}",
                f"{r['payslip_rows']:,}",
                fmt_seconds(r["sync"].seconds),
                f"{r['sync'].max_rss_mb:,.0f} MB",
                f"{r['sync'].peak_tree_mb:,.0f} MB",
                f"{r['soap']:,}",
                f"{r['rest']:,}",
                f"{calls / r['company_years']:.1f}",
                f"{calls / r['runs']:.2f}",
                r["max_in_flight"],
                fmt_seconds(r["dbt"]),
            )
        )
    section.tables.append(
        Table(
            (
                "companies × employees × years",
                "wage-component rows",
                "payslip rows",
                "full sync",
                "peak RSS (largest process)",
                "peak RSS (process tree)",
                "SOAP calls",
                "REST calls",
                "calls per company-year",
                "calls per payroll run",
                "max requests in flight",
                "bare dbt build",
            ),
            rows,
        )
    )
    big, small = results
    per_cy_big = (big["soap"] + big["rest"]) / big["company_years"]
    per_cy_small = (small["soap"] + small["rest"]) / small["company_years"]
    drift = abs(per_cy_big - per_cy_small) / per_cy_small
    employee_factor = (big["employees"] / small["employees"]) if small["employees"] else float("inf")
    section.targets.append(
        Target(
            "API calls per company-year, big ÷ small size",
            f"within ±{CALLS_TOLERANCE:.0%} although employees differ {employee_factor:.0f}×",
            f"{per_cy_big:.1f} vs {per_cy_small:.1f} ({drift:+.1%})",
            drift <= CALLS_TOLERANCE,
            ""
            if drift <= CALLS_TOLERANCE
            else "calls grow with employees: some request is made per employee or period",
        )
    )
    peak = max(big["sync"].peak_tree_mb, big["sync"].max_rss_mb)
    section.targets.append(
        Target(
            "peak RSS of the full sync (process tree)",
            f"< {RSS_LIMIT_MB} MB",
            f"{peak:,.0f} MB",
            peak < RSS_LIMIT_MB,
            ""
            if peak < RSS_LIMIT_MB
            else "see the largest process vs the tree: the sync process or dbt holds too much",
        )
    )
    cy_big, cy_small = big["company_years"], small["company_years"]
    if big["companies"] < FULL_COMPANIES and cy_big > cy_small:
        slope = (big["sync"].seconds - small["sync"].seconds) / (cy_big - cy_small)
        full_cy = cy_big * FULL_COMPANIES / big["companies"]
        estimate = big["sync"].seconds + slope * (full_cy - cy_big)
        section.notes.append(
            f"Extrapolated, not measured: a full sync of {FULL_COMPANIES} companies × {employees} employees × "
            f"{years} years ({full_cy:.0f} company-years) would take ≈ {estimate / 60:.0f} min at the measured "
            f"{slope:.1f} s per extra company-year (a straight line through the two sizes). Run "
            f"`python -m benchmarks.run --only scale --companies {FULL_COMPANIES}` to measure it."
        )
    section.notes.extend(
        [
            "Calls are those the sandbox counted (identity/OAuth and WSDL requests are excluded from SOAP/REST: "
            f"{big['other']} and {small['other']} for the two sizes). Payslips are fetched with one report "
            "task per payroll run (the API has no other shape), so calls follow company-years × runs.",
            "'bare dbt build' is a full `dbt build` of the synced warehouse run on its own after the sync "
            "(the sync's own dbt step is part of its wall time).",
            "The sandbox runs in the benchmark's own process, the sync in a child process: the RSS figures are "
            "the sync's alone.",
        ]
    )
    return section
