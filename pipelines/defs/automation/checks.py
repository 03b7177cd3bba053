"""Checks that warn before wrong or incomplete numbers reach a report.

- Mapping completeness is a dbt test (`wage_components_are_all_mapped`, severity error): dagster-dbt
  runs it as a blocking asset check inside `dbt build`, so an unmapped wage component stops the
  models downstream of it.
- `reconciliation_within_tolerance` (WARN) lists the months and accounts where payroll and the ERP
  differ by more than dbt's `reconciliation_tolerance`.
- `source_coverage_complete` (WARN) flags company-years whose wage components came from the REST API
  only (no employer charges, taxes or totals).
- `journals_balanced` (WARN) flags a run whose Nmbrs journal does not balance (debit <> credit).
- Freshness: the daily reference assets must be updated by the daily schedule; the payroll assets
  at least every PAYROLL_STALE_AFTER_DAYS (a payroll cycle and a week; `payroll status` calls a
  company stale by the same bound).
"""

import datetime as dt
from decimal import Decimal

import dagster as dg
from psycopg2 import sql

from pipelines.defs import keys
from pipelines.defs.automation.status import AUTOMATION, default_sensor_status
from pipelines.defs.nmbrs.partitions import company_year, split_company_year
from pipelines.defs.resources import WarehouseResource

LISTED_DIFFERENCES = 25
DAILY_GRACE = dt.timedelta(hours=2)


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


@dg.asset_check(
    asset=keys.RECONCILIATION_MART,
    name="reconciliation_within_tolerance",
    description=(
        "Warns when payroll and the ERP disagree for a company, month and GL account by more than "
        "dbt's reconciliation_tolerance, or when one side has no amount; lists the differences."
    ),
)
def reconciliation_within_tolerance(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    rows = warehouse.fetch_all(
        sql.SQL(
            "select company_id, erp_entity, year, month, gl_account, payroll_amount, erp_amount, "
            "difference, status from marts.payroll_gl_reconciliation where status <> 'matched' "
            "order by abs(difference) desc, company_id, year, month, gl_account"
        )
    )
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[row[8]] = by_status.get(row[8], 0) + 1
    table = [
        "| company | entity | year | month | account | payroll | ERP | difference | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for company, entity, year, month, account, payroll, erp, difference, status in rows[:LISTED_DIFFERENCES]:
        table.append(
            f"| {company} | {entity or '-'} | {year} | {month} | {account} | {_money(payroll)} | "
            f"{_money(erp)} | {_money(difference)} | {status} |"
        )
    if len(rows) > LISTED_DIFFERENCES:
        table.append(f"\n{len(rows) - LISTED_DIFFERENCES} more in marts.payroll_gl_reconciliation")
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "payroll and the ERP agree for every month and account"
            if not rows
            else f"{len(rows)} month/account combinations do not reconcile"
        ),
        metadata={
            "unreconciled": len(rows),
            **{f"status_{status}": count for status, count in sorted(by_status.items())},
            "total_absolute_difference": float(sum((abs(row[7]) for row in rows), Decimal("0"))),
            "differences": dg.MetadataValue.md("\n".join(table) if rows else "none"),
        },
    )


@dg.asset_check(
    asset=keys.SOURCE_COVERAGE,
    name="source_coverage_complete",
    partitions_def=company_year,
    description=(
        "Warns when a company-year's wage components came from the REST API only: REST has no "
        "employer charges, taxes or totals, so those marts are incomplete. Configure the SOAP token."
    ),
)
def source_coverage_complete(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    company_id, year = split_company_year(context.partition_key)
    rows = warehouse.fetch_all(
        sql.SQL(
            "select source_mode, wage_component_source, coverage from nmbrs.source_coverage "
            "where company_id = %s and year = %s"
        ),
        (company_id, year),
    )
    rest_only = [row for row in rows if row[2] == "rest_only"]
    if not rows:
        description = (
            f"no source coverage recorded for company {company_id}, {year}; load the partition first"
        )
    elif rest_only:
        description = (
            f"company {company_id}, {year}: wage components from the REST API only (source mode "
            f"{rest_only[0][0]}, loaded by an earlier version from the entered components); employer "
            "charges, taxes and totals are missing. Fix: `payroll sync --full-refresh` loads the REST run output"
        )
    else:
        source = {"run_output": "the REST run output", "soap_period_report": "the SOAP wage-component report"}
        description = f"company {company_id}, {year}: complete ({source.get(rows[0][1], rows[0][1])})"
    return dg.AssetCheckResult(
        passed=bool(rows) and not rest_only,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={"coverage": rows[0][2] if rows else "unknown", "source_mode": rows[0][0] if rows else ""},
    )


@dg.asset_check(
    asset=keys.JOURNALS,
    name="journals_balanced",
    partitions_def=company_year,
    description=(
        "Warns when a payroll run's journal in Nmbrs does not balance: per run, variant and period, "
        "the debit lines do not add up to the credit lines. Lists each such run with the difference."
    ),
)
def journals_balanced(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    company_id, year = split_company_year(context.partition_key)
    rows = warehouse.fetch_all(
        sql.SQL(
            "select run_number, run_id, variant, journal_year, journal_period, "
            "sum(case when side = 'debit' then amount else 0 end) as debit, "
            "sum(case when side = 'credit' then amount else 0 end) as credit "
            "from nmbrs.journals where company_id = %s and year = %s "
            "group by run_number, run_id, variant, journal_year, journal_period "
            "having sum(case when side = 'debit' then amount else -amount end) <> 0 "
            "order by run_number, variant, journal_year, journal_period"
        ),
        (company_id, year),
    )
    (runs_with_journals,) = warehouse.fetch_all(
        sql.SQL("select count(distinct run_number) from nmbrs.journals where company_id = %s and year = %s"),
        (company_id, year),
    )[0]
    table = [
        "| run | variant | period | debit | credit | debit - credit |",
        "|---|---|---|---|---|---|",
    ]
    for run_number, _, variant, j_year, j_period, debit, credit in rows[:LISTED_DIFFERENCES]:
        table.append(
            f"| {run_number} | {variant} | {j_period}/{j_year} | {_money(debit)} | {_money(credit)} | "
            f"{_money(debit - credit)} |"
        )
    unbalanced_runs = sorted({row[0] for row in rows})
    if rows:
        description = (
            f"company {company_id}, {year}: the journal of run(s) {', '.join(map(str, unbalanced_runs))} does "
            "not balance (debit <> credit). Fix: check the run's journal and ledger set-up in Nmbrs, then "
            "run the sync again with --full-refresh"
        )
    elif not runs_with_journals:
        description = f"company {company_id}, {year}: no journals loaded (they come from the REST API)"
    else:
        description = f"company {company_id}, {year}: the journals of {runs_with_journals} run(s) balance"
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "runs_with_journals": runs_with_journals,
            "unbalanced_runs": dg.MetadataValue.json(unbalanced_runs),
            "unbalanced": dg.MetadataValue.md("\n".join(table) if rows else "none"),
        },
    )


reference_freshness_checks = dg.build_last_update_freshness_checks(
    assets=list(keys.REFERENCE_ASSETS),
    lower_bound_delta=dt.timedelta(days=1) + DAILY_GRACE,
    deadline_cron=AUTOMATION.daily_cron,
    timezone=AUTOMATION.timezone,
)

payroll_freshness_checks = dg.build_last_update_freshness_checks(
    assets=list(keys.COMPANY_YEAR_ASSETS),
    lower_bound_delta=dt.timedelta(days=AUTOMATION.stale_after_days),
)

freshness_checks_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=[*reference_freshness_checks, *payroll_freshness_checks],
    name="raw_nmbrs_freshness",
    default_status=default_sensor_status(),
)
