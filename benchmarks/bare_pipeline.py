"""The peer of `payroll sync` in the orchestration benchmark: the same extraction as a plain script.

    python -m benchmarks.bare_pipeline        # env: PAYROLL_DATABASE_URL, NMBRS_*; NMBRS_SOURCE_MODE
    python -m benchmarks.bare_pipeline --source-mode soap   # the SOAP path whatever the environment says
    python -m benchmarks.bare_pipeline --company 101 --year 2026   # one company-year only

No Dagster: the library's clients, parsers and `replace_partition` called in a loop, the way a data
engineer would script it; the same tables, the same order per company-year (start every report or
document task, wait for them together, load), then the ERP files. Two paths, like the product's:
- soap: the SOAP client, the per-period and payslip reports (streaming parser), SOAP ids;
- rest (rest-only, the product's default when REST is configured): the REST client through the
  product's NmbrsSession (company and employee numbers as keys, docs/nmbrs-api.md "Keys"), the run
  output of every run summed per period (wage components) and per run (payslips), the journals, the
  employees' department and cost-centre histories.
`dbt build` runs after it, bare, in its own process (benchmarks.dbt_cli). With --company and --year
only that company-year is extracted (the bare peer of the new-run sensor's job in
benchmarks.incremental; --company is the warehouse's company key of the mode).
The last line printed is `calls=N company_years=C company_year_calls=M company_year_seconds=S`:
the API calls of the whole extraction, and those and the wall time of the company-year loop alone.
"""

from __future__ import annotations

import argparse
import os
import time

from pipelines.app.demo import use_sandbox_erp_files
from pipelines.lib import erp, settings, warehouse
from pipelines.lib.nmbrs.config import NmbrsSettings
from pipelines.lib.nmbrs.records import ROW_COLUMNS, Company, Employee, RunInfo, WageComponent, as_row
from pipelines.lib.nmbrs.soap import NmbrsSoapClient

PAYSLIP_COLUMNS = (
    "company_id",
    "year",
    "run_id",
    "run_number",
    "period",
    "employee_id",
    "code",
    "description",
    "value",
)
COVERAGE_COLUMNS = ("company_id", "year", "source_mode", "wage_component_source", "coverage")


def load_company_year(client: NmbrsSoapClient, conn, company_id: int, year: int) -> None:
    where = {"company_id": company_id, "year": year}
    runs = client.runs(company_id, year)
    report = client.start_wage_component_report(company_id, year)
    payslip_tasks = {
        run.run_number: client.start_payslip_report(company_id, run.run_id, year) for run in runs
    }
    client.wait_for_reports([report, *payslip_tasks.values()])
    for run in runs:
        rows = (
            (company_id, year, run.run_id, run.run_number, line.period, line.employee_id, line.code,
             line.description, line.value)
            for line in client.report_lines(payslip_tasks[run.run_number], kind="payslip", run_id=run.run_id)
        )  # fmt: skip
        warehouse.replace_partition(
            conn,
            "nmbrs.payslips",
            {**where, "run_number": run.run_number},
            PAYSLIP_COLUMNS,
            rows,
            source="soap",
        )
    lines = (
        (company_id, line.year, line.period, line.employee_id, line.code, line.description, line.value,
         "soap_period_report")
        for line in client.report_lines(report, kind="period", year=year)
    )  # fmt: skip
    warehouse.replace_partition(
        conn, "nmbrs.wage_components", where, ROW_COLUMNS[WageComponent], lines, source="soap"
    )
    warehouse.replace_partition(
        conn,
        "nmbrs.source_coverage",
        where,
        COVERAGE_COLUMNS,
        [(company_id, year, "soap", "soap_period_report", "complete")],
        source="soap",
    )
    warehouse.replace_partition(
        conn, "nmbrs.payroll_runs", where, ROW_COLUMNS[RunInfo], [as_row(run) for run in runs], source="soap"
    )


def load_erp(conn, folder) -> None:
    chart = folder / erp.CHART_FILE
    movements = folder / erp.MOVEMENTS_FILE
    warehouse.replace_partition(
        conn,
        "erp.chart_of_accounts",
        {},
        erp.CHART_COLUMNS,
        [(a.account, a.name, a.statement) for a in erp.read_chart_of_accounts(chart)],
        source=chart.name,
    )
    warehouse.replace_partition(
        conn,
        "erp.gl_movements",
        {},
        erp.MOVEMENT_COLUMNS,
        [(m.entity, m.account, m.year, m.month, m.amount) for m in erp.read_gl_movements(movements)],
        source=movements.name,
    )


def load_company_year_rest(session, conn, company_id: int, year: int) -> None:
    """One company-year from the REST run outputs and journals, keyed as the product keys it."""
    from pipelines.defs import keys
    from pipelines.defs.nmbrs import tables
    from pipelines.defs.nmbrs.source import payslips_from_run_output, wage_components_from_run_outputs

    loader = tables.Loader(conn, session.api_source, None, {"company_id": company_id, "year": year})
    runs = session.runs(company_id, year)
    outputs = session.run_outputs(company_id, runs)
    for run in runs:
        loader.replace(
            tables.PAYSLIPS,
            tables.PayslipRow,
            payslips_from_run_output(run, outputs[run.run_number]),
            run_number=run.run_number,
        )
    wage = wage_components_from_run_outputs(company_id, year, outputs)
    loader.replace(tables.WAGE_COMPONENTS, WageComponent, [tables.as_tuple(row) for row in wage])
    coverage = tables.CoverageRow(
        company_id, year, session.source_mode, session.wage_component_source, session.coverage
    )
    loader.replace(tables.SOURCE_COVERAGE, tables.CoverageRow, [tables.as_tuple(coverage)])
    by_run: dict[int, list] = {run.run_number: [] for run in runs}
    for row in session.journals(company_id, runs, keys.JOURNAL_VARIANTS) if runs else ():
        by_run[row.run_number].append(row)
    for number, rows in sorted(by_run.items()):
        loader.replace(tables.JOURNALS, tables.JournalRow, rows, run_number=number)
    loader.replace(tables.PAYROLL_RUNS, RunInfo, [tables.as_tuple(run) for run in runs])


def _rest_session(nmbrs: NmbrsSettings, url: str):
    from pipelines.app.demo import ensure_sandbox_connection
    from pipelines.defs.nmbrs.source import NmbrsSession
    from pipelines.lib.nmbrs.config import is_local_url

    if is_local_url(nmbrs.identity_url):  # as `payroll sync` does against the sandbox (in its time too)
        ensure_sandbox_connection(nmbrs, lambda _message: None, verify=False)
    return NmbrsSession(nmbrs, url)


def _rest_calls(session) -> int:
    calls = session.calls()
    return calls["soap"] + calls["rest"]


def extract_rest(nmbrs: NmbrsSettings, url: str, conn, erp_folder) -> tuple[int, int, int, float]:
    """The whole REST-only extraction; (calls, company-years, their calls, their seconds)."""
    from pipelines.defs.nmbrs import tables

    session = _rest_session(nmbrs, url)
    try:
        warehouse.ensure_raw_schema(conn)
        loader = tables.Loader(conn, session.api_source, None)
        loader.replace(tables.ENVIRONMENT, tables.EnvironmentRow, [tables.as_tuple(session.environment())])
        companies = session.companies()
        loader.replace(tables.COMPANIES, Company, [tables.as_tuple(c) for c in companies])
        people, assignments = [], []
        for company in companies:
            rows, history = session.employees_with_assignments(company.company_id)
            people.extend(tables.as_tuple(row) for row, _personal in rows)
            assignments.extend(history)
        loader.replace(tables.EMPLOYEES, Employee, people)
        loader.replace(tables.EMPLOYEE_ASSIGNMENTS, tables.AssignmentRow, assignments)
        before, started, count = _rest_calls(session), time.monotonic(), 0
        for company in companies:
            for year in settings.payroll_years():
                load_company_year_rest(session, conn, company.company_id, year)
                count += 1
        seconds, loop_calls = time.monotonic() - started, _rest_calls(session) - before
        load_erp(conn, erp_folder)
        return _rest_calls(session), count, loop_calls, seconds
    finally:
        session.close()


def extract_soap(nmbrs: NmbrsSettings, conn, erp_folder) -> tuple[int, int, int, float]:
    """The whole SOAP extraction; (calls, company-years, their calls, their seconds)."""
    client = NmbrsSoapClient(nmbrs)
    try:
        warehouse.ensure_raw_schema(conn)
        environment = client.environment()
        warehouse.replace_partition(
            conn,
            "nmbrs.environment",
            {},
            ("domain", "subdomain", "source_mode"),
            [(environment.domain, environment.subdomain, "soap")],
            source="soap",
        )
        companies = client.companies()
        warehouse.replace_partition(
            conn, "nmbrs.companies", {}, ROW_COLUMNS[Company], [as_row(c) for c in companies], source="soap"
        )
        employees = [as_row(e) for c in companies for e, _personal in client.employees(c.company_id)]
        warehouse.replace_partition(
            conn, "nmbrs.employees", {}, ROW_COLUMNS[Employee], employees, source="soap"
        )
        before, started, count = client.calls, time.monotonic(), 0
        for company in companies:
            for year in settings.payroll_years():
                load_company_year(client, conn, company.company_id, year)
                count += 1
        seconds, loop_calls = time.monotonic() - started, client.calls - before
        load_erp(conn, erp_folder)
        return client.calls, count, loop_calls, seconds
    finally:
        client.close()


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--company", type=int, help="extract this company's --year only")
    cli.add_argument("--year", type=int)
    cli.add_argument(
        "--source-mode", choices=("soap", "rest"), help="the path (default: NMBRS_SOURCE_MODE's, as resolved)"
    )
    args = cli.parse_args()
    if args.source_mode:
        os.environ["NMBRS_SOURCE_MODE"] = args.source_mode
    url = settings.database_url(start_embedded=False)
    conn = warehouse.connect(url)
    nmbrs = NmbrsSettings.from_env()
    mode = nmbrs.source_mode
    if mode not in ("soap", "rest"):
        raise SystemExit(f"the bare pipeline has the soap and rest paths, not {mode}")
    if args.company is not None:
        started = time.monotonic()
        try:
            if mode == "rest":
                session = _rest_session(nmbrs, url)
                try:
                    load_company_year_rest(session, conn, args.company, args.year)
                    calls = _rest_calls(session)
                finally:
                    session.close()
            else:
                client = NmbrsSoapClient(nmbrs)
                try:
                    load_company_year(client, conn, args.company, args.year)
                    calls = client.calls
                finally:
                    client.close()
        finally:
            conn.close()
        print(
            f"calls={calls} company_years=1 company_year_calls={calls} "
            f"company_year_seconds={time.monotonic() - started:.3f}"
        )
        return
    erp_folder = erp.erp_dir() or use_sandbox_erp_files(nmbrs)  # the sandbox's files, as `payroll sync` uses
    try:
        if mode == "rest":
            calls, count, loop_calls, seconds = extract_rest(nmbrs, url, conn, erp_folder)
        else:
            calls, count, loop_calls, seconds = extract_soap(nmbrs, conn, erp_folder)
    finally:
        conn.close()
    print(
        f"calls={calls} company_years={count} company_year_calls={loop_calls} "
        f"company_year_seconds={seconds:.3f}"
    )


if __name__ == "__main__":
    main()
