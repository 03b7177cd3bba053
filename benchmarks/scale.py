"""Benchmark 5: the sandbox's `scale` scenario, synced in full, measured at several sizes.

Sizes, for `--companies N` (default 50; `--companies 200` is the issue's full size) × `--employees E`
(default 100) × `--years Y` (default 2):
- N × E: the size asked for;
- 20 × E (the reference; half of N when N ≤ 20) and 2 × E (a tenth of the reference): the time per
  extra company-year at N (from 20 to N) ÷ the same at 20 (from 2 to 20) shows whether the cost per
  company-year grows with the number of companies;
- 2 × E/10: API calls per company-year must equal those at N × E although employees differ 10×
  (calls grow with companies × years and the runs Nmbrs made, never with employees × periods).
For each: a fresh sandbox, warehouse and Dagster instance, then `payroll sync` in a child process:
wall time, peak RSS (the largest process, and the whole process tree sampled at 20 Hz, dbt
included), SOAP and REST calls and the most requests the sandbox had in flight at once (against the
`nmbrs_api` pool size); then a bare `dbt build` of the synced warehouse, timed.
Each size runs per source mode (`--source-mode`, default both): `rest` (the REST run-output path,
the product's default whenever REST is configured) and `soap` (the SOAP report path), each against
its own fresh sandbox of the same seed; a table then sets them side by side per size (calls and
sync time per company-year, REST ÷ SOAP).
Targets (issue 15): per extra company-year at N ÷ at 20 ≤ 1.1×; peak RSS of the process tree < 1 GB;
requests in flight never above the pool size; calls per company-year within ±10% of the small size.
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
    fmt_ratio,
    fmt_seconds,
    pipeline_env,
    run_measured,
)

PAYROLL = str(Path(sys.executable).with_name("payroll"))
RSS_LIMIT_MB = 1024
FULL_COMPANIES = 200  # the example size
DEFAULT_COMPANIES = 50  # what `make bench` runs: 200 does not fit its budget on 2 cores
REFERENCE_COMPANIES = 20
FULL_SECTION = "scale_full"  # the section of a `--companies 200` run, kept by later `make bench` runs
CALLS_TOLERANCE = 0.10
PER_COMPANY_YEAR_LIMIT = 1.1
SOURCE_MODES = ("rest", "soap")
PREVIOUS = (
    "Previous figures (2026-11-24, another 2-core machine, rest+soap mode, two sizes only): 20 × 100 × 2 "
    "in 169.79 s, peak RSS 486 MB (process tree), 42.0 calls per company-year, at most 2 requests in "
    "flight; 200 companies extrapolated (≈ 24 min at 3.5 s per extra company-year), not measured."
)


def _count(url: str, statement: str) -> int:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchone()[0]
    finally:
        conn.close()


def pool_size(env: dict[str, str]) -> int:
    """The `nmbrs_api` pool size the sync runs with (PAYROLL_NMBRS_POOL_SIZE, else the default)."""
    from pipelines.lib.automation_settings import DEFAULT_POOL_SIZE

    return int(env.get("PAYROLL_NMBRS_POOL_SIZE") or DEFAULT_POOL_SIZE)


def _sync_once(ctx: BenchContext, mode: str, companies: int, employees: int, years: int) -> dict:
    from pipelines.sandbox.server import SandboxServer

    sandbox = SandboxServer.start(
        scenario="scale", seed=42, companies=companies, employees_per_company=employees, years=years
    )
    try:
        listed = len(sandbox.state.world.companies())
        with ctx.database(f"scale_{mode}_{companies}x{employees}") as url:
            env = pipeline_env(
                url,
                ctx.workdir / f"home-{mode}-{companies}x{employees}",
                {**sandbox.env_vars(), "NMBRS_SOURCE_MODE": mode},
            )
            env["PAYROLL_START_YEAR"] = str(sandbox.state.config.first_year)
            sandbox.state.counters.reset()
            ctx.log(
                f"scale ({mode}): payroll sync of {companies} companies × {employees} employees × {years} years"
            )
            sync = run_measured([PAYROLL, "sync"], env=env, workdir=ctx.workdir).check(
                f"payroll sync ({mode})"
            )
            calls = sandbox.state.counters.snapshot()
            ctx.log(f"scale ({mode}): bare dbt build of the synced warehouse")
            dbt = dbt_build(env, ctx.workdir / f"dbt-{mode}-{companies}x{employees}")
            loaded = _count(url, "select count(*) from nmbrs.companies")
            if loaded != listed:  # the companies come from the sandbox's listing, whatever their keys
                raise RuntimeError(f"the sandbox lists {listed} companies, the warehouse holds {loaded}")
            return {
                "mode": mode,
                "companies": companies,
                "employees": employees,
                "years": years,
                "company_years": _count(
                    url,
                    "select count(*) from (select distinct company_id, year from nmbrs.wage_components) s",
                ),
                "runs": _count(url, "select count(*) from nmbrs.payroll_runs"),
                "wage_rows": _count(url, "select count(*) from nmbrs.wage_components"),
                "payslip_rows": _count(url, "select count(*) from nmbrs.payslips"),
                "sync": sync,
                "dbt": dbt.seconds,
                "soap": sum(n for key, n in calls["calls"].items() if key.startswith("soap:")),
                "rest": sum(n for key, n in calls["calls"].items() if key.startswith("rest:")),
                "other": sum(
                    n for key, n in calls["calls"].items() if not key.startswith(("soap:", "rest:"))
                ),
                "max_in_flight": calls["max_in_flight"],
                "pool_size": pool_size(env),
            }
    finally:
        sandbox.stop()


def sizes_for(companies: int, employees: int) -> dict[str, tuple[int, int]]:
    """The sizes to sync, by role (see the module docstring)."""
    reference = REFERENCE_COMPANIES if companies > REFERENCE_COMPANIES else max(2, companies // 2)
    base = max(1, reference // 10)
    return {
        "asked": (companies, employees),
        "reference": (reference, employees),
        "base": (base, employees),
        "few employees": (base, max(1, employees // 10)),
    }


def per_extra_company_year(small: dict, big: dict) -> float:
    """Seconds of `payroll sync` per company-year added from the small size to the big one."""
    return (big["sync"].seconds - small["sync"].seconds) / (big["company_years"] - small["company_years"])


def run(ctx: BenchContext) -> Section:
    companies = int(ctx.options.get("companies") or (4 if ctx.quick else DEFAULT_COMPANIES))
    employees = int(ctx.options.get("employees") or (3 if ctx.quick else 100))
    years = int(ctx.options.get("years") or (1 if ctx.quick else 2))
    modes = list(ctx.options.get("source_modes") or SOURCE_MODES)
    sizes = sizes_for(companies, employees)
    full = companies >= FULL_COMPANIES and not ctx.quick
    section = Section(
        # A full-size run is kept in its own section: `make bench` (50 companies) does not replace it.
        FULL_SECTION if full else "scale",
        f"{'5b' if full else '5'}. Scale: full sync of the sandbox's scale scenario ({companies} × {employees} × "
        f"{years}), {' and '.join(modes)} path{' (the documented full-size run)' if full else ''}",
    )
    results: dict[str, dict[str, dict]] = {}
    for mode in modes:
        done: dict[tuple[int, int], dict] = {}
        for size in dict.fromkeys(sizes.values()):
            done[size] = _sync_once(ctx, mode, size[0], size[1], years)
        results[mode] = {role: done[size] for role, size in sizes.items()}

    rows = []
    for mode, by_role in results.items():
        for role, r in by_role.items():
            calls = r["soap"] + r["rest"]
            rows.append(
                (
                    mode,
                    f"{r['companies']} × {r['employees']} × {r['years']} ({role})",
                    f"{r['company_years']:,}",
                    f"{r['wage_rows']:,}",
                    f"{r['payslip_rows']:,}",
                    fmt_seconds(r["sync"].seconds),
                    f"{r['sync'].max_rss_mb:,.0f} MB",
                    f"{r['sync'].peak_tree_mb:,.0f} MB",
                    f"{r['soap']:,}",
                    f"{r['rest']:,}",
                    f"{calls / r['company_years']:.1f}",
                    f"{calls / r['runs']:.2f}",
                    f"{r['max_in_flight']} of {r['pool_size']}",
                    fmt_seconds(r["dbt"]),
                )
            )
    if rows:
        section.tables.append(
            Table(
                (
                    "source mode",
                    "companies × employees × years",
                    "company-years",
                    "wage-component rows",
                    "payslip rows",
                    "full sync",
                    "peak RSS (largest process)",
                    "peak RSS (process tree)",
                    "SOAP calls",
                    "REST calls",
                    "calls per company-year",
                    "calls per payroll run",
                    "max requests in flight (of pool size)",
                    "bare dbt build",
                ),
                rows,
            )
        )
    if {"rest", "soap"} <= results.keys():
        section.tables.append(compare_paths(results["rest"], results["soap"]))
    for mode, by_role in results.items():
        _targets(section, mode, by_role, companies)
    section.notes.extend(
        [
            "Calls are those the sandbox counted (identity/OAuth and WSDL requests are excluded from SOAP/REST: "
            + ", ".join(
                f"{r['other']} at {r['companies']} × {r['employees']} ({mode})"
                for mode, by_role in results.items()
                for r in by_role.values()
            )
            + "). SOAP fetches the payslips with one report task per payroll run, REST one run output "
            "document per run plus its three journal variants (each task polled until ready): calls follow "
            "company-years × runs on both paths.",
            "'per extra company-year' is the difference in full-sync time between two sizes divided by the "
            "difference in company-years (a straight line through them, fixed start-up excluded).",
            "'bare dbt build' is a full `dbt build` of the synced warehouse run on its own after the sync "
            "(the sync's own dbt step is part of its wall time).",
            "The sandbox runs in the benchmark's own process, the sync in a child process: the RSS figures are "
            "the sync's alone. The companies are the sandbox's listing (the warehouse must hold as many).",
            PREVIOUS,
        ]
    )
    return section


def compare_paths(rest: dict[str, dict], soap: dict[str, dict]) -> Table:
    """The REST run-output path against the SOAP path at each size of this run: API calls and full-sync
    time per company-year, and REST ÷ SOAP."""
    rows = []
    for role, r in rest.items():
        s = soap[role]
        rest_calls = (r["soap"] + r["rest"]) / r["company_years"]
        soap_calls = (s["soap"] + s["rest"]) / s["company_years"]
        rest_time = r["sync"].seconds / r["company_years"]
        soap_time = s["sync"].seconds / s["company_years"]
        rows.append(
            (
                f"{r['companies']} × {r['employees']} × {r['years']} ({role})",
                f"{rest_calls:.1f}",
                f"{soap_calls:.1f}",
                fmt_ratio(rest_calls / soap_calls),
                fmt_seconds(rest_time),
                fmt_seconds(soap_time),
                fmt_ratio(rest_time / soap_time),
            )
        )
    return Table(
        (
            "size",
            "REST calls per company-year",
            "SOAP calls per company-year",
            "REST ÷ SOAP (calls)",
            "REST full sync per company-year (start-up and dbt included)",
            "SOAP full sync per company-year (start-up and dbt included)",
            "REST ÷ SOAP (time)",
        ),
        rows,
    )


def _targets(section: Section, mode: str, by_role: dict[str, dict], companies: int) -> None:
    big, reference, base, few = (by_role[role] for role in ("asked", "reference", "base", "few employees"))
    per_cy_big = (big["soap"] + big["rest"]) / big["company_years"]
    per_cy_few = (few["soap"] + few["rest"]) / few["company_years"]
    drift = abs(per_cy_big - per_cy_few) / per_cy_few
    employee_factor = big["employees"] / few["employees"]
    section.targets.append(
        Target(
            f"{mode}: API calls per company-year, {big['companies']} × {big['employees']} ÷ "
            f"{few['companies']} × {few['employees']}",
            f"within ±{CALLS_TOLERANCE:.0%} although employees differ {employee_factor:.0f}×",
            f"{per_cy_big:.1f} vs {per_cy_few:.1f} ({drift:+.1%})",
            drift <= CALLS_TOLERANCE,
            ""
            if drift <= CALLS_TOLERANCE
            else "calls grow with employees: some request is made per employee or period",
        )
    )
    if big["company_years"] > reference["company_years"] > base["company_years"]:
        at_big = per_extra_company_year(reference, big)
        at_reference = per_extra_company_year(base, reference)
        ratio = at_big / at_reference
        section.targets.append(
            Target(
                f"{mode}: time per extra company-year at {big['companies']} companies ÷ at "
                f"{reference['companies']}",
                f"≤ {PER_COMPANY_YEAR_LIMIT}×",
                f"{fmt_ratio(ratio)} ({fmt_seconds(at_big)} from {reference['companies']} to "
                f"{big['companies']}; {fmt_seconds(at_reference)} from {base['companies']} to "
                f"{reference['companies']})",
                ratio <= PER_COMPANY_YEAR_LIMIT,
                ""
                if ratio <= PER_COMPANY_YEAR_LIMIT
                else "a company-year costs more when there are more of them: a query or list that grows "
                "with the partitions (the instance's run and partition records, the warehouse's tables)",
            )
        )
    if companies < FULL_COMPANIES and big["company_years"] > base["company_years"]:
        slope = per_extra_company_year(base, big)
        full_cy = big["company_years"] * FULL_COMPANIES / big["companies"]
        estimate = big["sync"].seconds + slope * (full_cy - big["company_years"])
        section.notes.append(
            f"{mode}: extrapolated, not measured: {FULL_COMPANIES} companies × {big['employees']} employees × "
            f"{big['years']} years ({full_cy:.0f} company-years) would take ≈ {estimate / 60:.0f} min at "
            f"{slope:.1f} s per extra company-year. Run `python -m benchmarks.run --only scale --companies "
            f"{FULL_COMPANIES}` to measure it."
        )
    peak = max(max(r["sync"].peak_tree_mb, r["sync"].max_rss_mb) for r in by_role.values())
    section.targets.append(
        Target(
            f"{mode}: peak RSS of the full sync (process tree, largest size)",
            f"< {RSS_LIMIT_MB} MB",
            f"{peak:,.0f} MB",
            peak < RSS_LIMIT_MB,
            ""
            if peak < RSS_LIMIT_MB
            else "see the largest process vs the tree: the sync process or dbt holds too much",
        )
    )
    in_flight = max(r["max_in_flight"] for r in by_role.values())
    pool = min(r["pool_size"] for r in by_role.values())
    section.targets.append(
        Target(
            f"{mode}: most requests in flight at once (every size)",
            f"≤ the nmbrs_api pool size ({pool})",
            str(in_flight),
            in_flight <= pool,
            ""
            if in_flight <= pool
            else "some step sends requests outside the pool, or in parallel within a step",
        )
    )
