"""Benchmark 3: the cost of taking in one new payroll run with 0, 1 and 5 years of history loaded.

For each history depth h: a fresh sandbox (scale scenario, same seed, six years ending mid-year), a
fresh warehouse and Dagster instance, and a full `payroll sync --since <current year − h>` to load
the history (untimed setup). Then, twice: the sandbox adds the next period's run for one company,
and `benchmarks.new_run_driver` executes the sensor's job (`nmbrs_company_year_sync`: that
company-year partition plus dbt downstream with the company/year vars) in a child process. The
figure is the better of the two job times; after each, the new period must be in the marts.
Target: the cost with 5 years of history ≤ 1.3× the cost with none.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import psycopg2

from benchmarks.harness import (
    BenchContext,
    Section,
    Table,
    Target,
    fmt_ratio,
    fmt_seconds,
    pipeline_env,
    python_module,
    run_measured,
)

HISTORIES = (0, 1, 5)
RATIO_LIMIT = 1.3
PAYROLL = str(Path(sys.executable).with_name("payroll"))


def _fetch(url: str, statement: str, params: tuple = ()) -> tuple:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchone()
    finally:
        conn.close()


def run(ctx: BenchContext) -> Section:
    from pipelines.sandbox.server import SandboxServer

    companies = 1 if ctx.quick else 3
    employees = 2 if ctx.quick else 100
    repeats = 1 if ctx.quick else 2
    year = dt.date.today().year
    as_of = dt.date(year, 7, 15)
    section = Section(
        "incremental", "3. Incremental cost: one new payroll run against 0, 1 and 5 years of history"
    )
    results: dict[int, dict] = {}
    for history in HISTORIES:
        sandbox = SandboxServer.start(
            scenario="scale",
            seed=42,
            companies=companies,
            employees_per_company=employees,
            years=max(HISTORIES) + 1,
            as_of=as_of,
        )
        try:
            with ctx.database(f"incr{history}") as url:
                home = ctx.workdir / f"home-{history}"
                env = pipeline_env(url, home, sandbox.env_vars())
                env["PAYROLL_START_YEAR"] = str(year - history)
                ctx.log(
                    f"incremental: loading {history} year(s) of history plus {year} ({companies} companies)"
                )
                setup = run_measured(
                    [PAYROLL, "sync", "--since", str(year - history)], env=env, workdir=ctx.workdir
                ).check(f"payroll sync --since {year - history}")
                company = _fetch(url, "select min(company_id) from nmbrs.companies")[0]
                history_rows = _fetch(url, "select count(*) from nmbrs.wage_components")[0]
                mart_rows = _fetch(url, "select count(*) from marts.fct_payroll_lines")[0]
                runs = []
                for _ in range(repeats):
                    new_run = sandbox.state.add_run(company, year)
                    ctx.log(
                        f"incremental: new run (period {new_run.period_end}) for company {company}, {year}"
                    )
                    proc = run_measured(
                        python_module(
                            "benchmarks.new_run_driver", "--company", str(company), "--year", str(year)
                        ),
                        env=env,
                        workdir=ctx.workdir,
                    ).check("the company-year job")
                    figures = json.loads(proc.stdout.strip().splitlines()[-1])
                    in_marts = _fetch(
                        url,
                        "select count(*) from marts.fct_payroll_lines where company_id = %s and year = %s "
                        "and period = %s",
                        (company, year, new_run.period_end),
                    )[0]
                    if not in_marts:
                        raise RuntimeError(
                            f"after the company-year job, marts.fct_payroll_lines has no line for company "
                            f"{company}, {year}, period {new_run.period_end}: the new run was not taken in"
                        )
                    runs.append((figures, proc.seconds))
                best = min(runs, key=lambda item: item[0]["seconds"])
                results[history] = {
                    "setup": setup.seconds,
                    "history_rows": history_rows,
                    "mart_rows": mart_rows,
                    "job": best[0]["seconds"],
                    "dbt": best[0]["dbt_seconds"],
                    "process": best[1],
                }
        finally:
            sandbox.stop()

    base = results[0]
    rows = [
        (
            history,
            f"{figures['history_rows']:,}",
            f"{figures['mart_rows']:,}",
            fmt_seconds(figures["setup"]),
            fmt_seconds(figures["job"]),
            fmt_seconds(figures["dbt"]),
            fmt_seconds(figures["process"]),
            fmt_ratio(figures["job"] / base["job"]),
            fmt_ratio(figures["dbt"] / base["dbt"]) if base["dbt"] else "n/a",
        )
        for history, figures in results.items()
    ]
    section.tables.append(
        Table(
            (
                "years of history",
                "raw wage-component rows",
                "fct_payroll_lines rows",
                "initial sync (setup)",
                "new run: job",
                "of which dbt",
                "child process incl. start-up",
                "job ÷ no history",
                "dbt ÷ no history",
            ),
            rows,
        )
    )
    deepest = max(HISTORIES)
    ratio = results[deepest]["job"] / base["job"]
    met = ratio <= RATIO_LIMIT
    limit = ""
    if not met:
        dbt_growth = results[deepest]["dbt"] - base["dbt"]
        other_growth = (results[deepest]["job"] - results[deepest]["dbt"]) - (base["job"] - base["dbt"])
        limit = (
            f"the job grew by {fmt_seconds(results[deepest]['job'] - base['job'])}: dbt by "
            f"{fmt_seconds(dbt_growth)}, the extraction steps by {fmt_seconds(other_growth)}"
        )
    section.targets.append(
        Target(
            f"new run with {deepest} years of history ÷ with none",
            f"≤ {RATIO_LIMIT}×",
            fmt_ratio(ratio),
            met,
            limit,
        )
    )
    section.notes.extend(
        [
            f"Sandbox scale scenario: {companies} companies × {employees} employees, six years ending "
            f"{as_of.isoformat()}; the new runs are periods added after that date for one company.",
            f"'new run: job' is the better of {repeats} executions of the nmbrs_company_year_sync job "
            "(the sensor's job), timed around the run inside the child process; the next column adds "
            "the interpreter start-up and imports. Each time, the new period was checked to be in the marts.",
        ]
    )
    return section
