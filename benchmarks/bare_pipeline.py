"""The peer of `payroll sync` in the orchestration benchmark: the same extraction as a plain script.

    python -m benchmarks.bare_pipeline        # env: PAYROLL_DATABASE_URL, NMBRS_* (soap mode)
    python -m benchmarks.bare_pipeline --company 101 --year 2026   # one company-year only


No Dagster: the library's SOAP client, streaming parser and `replace_partition` called in a loop,
the way a data engineer would script it; the same tables, the same order per company-year (start
every report task, wait for them together, load), then the ERP files. `dbt build` runs after it,
bare, in its own process (benchmarks.dbt_cli). With --company and --year only that company-year
is extracted (the bare peer of the new-run sensor's job in benchmarks.incremental).
"""

from __future__ import annotations

import argparse

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


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--company", type=int, help="extract this company's --year only")
    cli.add_argument("--year", type=int)
    args = cli.parse_args()
    url = settings.database_url(start_embedded=False)
    conn = warehouse.connect(url)
    nmbrs = NmbrsSettings.from_env()
    if args.company is not None:
        client = NmbrsSoapClient(nmbrs)
        try:
            load_company_year(client, conn, args.company, args.year)
        finally:
            client.close()
            conn.close()
        print(f"calls={client.calls}")
        return
    erp_folder = erp.erp_dir() or use_sandbox_erp_files(nmbrs)  # the sandbox's files, as `payroll sync` uses
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
        for company in companies:
            for year in settings.payroll_years():
                load_company_year(client, conn, company.company_id, year)
        load_erp(conn, erp_folder)
    finally:
        client.close()
        conn.close()
    print(f"calls={client.calls}")


if __name__ == "__main__":
    main()
