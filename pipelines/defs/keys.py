"""The names the definitions, the headless runs and the CLI share: asset keys, groups, pools, op and
job names, run tags, source labels and the run statuses that count as unfinished.

Every other module imports them from here, so that a key or a label is spelled once.
"""

from __future__ import annotations

import dagster as dg

# Groups and concurrency pools.
NMBRS_GROUP = "nmbrs_raw"
ERP_GROUP = "erp"
NMBRS_POOL = "nmbrs_api"
DBT_POOL = "dbt_build"


def nmbrs_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["nmbrs", name])


# The Nmbrs raw assets: the whole environment, and one company-year at a time.
ENVIRONMENT = nmbrs_key("environment")
COMPANIES = nmbrs_key("companies")
EMPLOYEES = nmbrs_key("employees")
EMPLOYEE_ASSIGNMENTS = nmbrs_key("employee_assignments")  # loaded with the employees, by the same step
PAYROLL_RUNS = nmbrs_key("payroll_runs")
WAGE_COMPONENTS = nmbrs_key("wage_components")
PAYSLIPS = nmbrs_key("payslips")
SOURCE_COVERAGE = nmbrs_key("source_coverage")
JOURNALS = nmbrs_key("journals")
REFERENCE_ASSETS = (ENVIRONMENT, COMPANIES, EMPLOYEES, EMPLOYEE_ASSIGNMENTS)
COMPANY_YEAR_ASSETS = (PAYROLL_RUNS, WAGE_COMPONENTS, PAYSLIPS, SOURCE_COVERAGE, JOURNALS)
# The journal variants loaded into nmbrs.journals (the employee variant adds nothing the marts use).
JOURNAL_VARIANTS = ("journals", "journalscostcenter", "journalsdepartment")

# The ERP files and the mart the reconciliation check reads.
CHART_OF_ACCOUNTS = dg.AssetKey(["erp", "chart_of_accounts"])
GL_MOVEMENTS = dg.AssetKey(["erp", "gl_movements"])
ERP_ASSETS = (CHART_OF_ACCOUNTS, GL_MOVEMENTS)
RECONCILIATION_MART = dg.AssetKey(["payroll_gl_reconciliation"])

# Ops and jobs.
COMPANY_YEAR_OP = "nmbrs_company_year"
COMPANY_YEAR_JOB = "nmbrs_company_year_sync"
COMPANY_YEAR_LOAD_JOB = "nmbrs_company_year_load"
REFERENCE_JOB = "nmbrs_reference_refresh"
REBUILD_JOB = "payroll_reconciliation_rebuild"

# Who started a run, and a readable name for it ("sync: company 101, year 2025"), on every run the
# product starts; `user` is the tag the Dagster UI shows as "Launched by" (else "Manually launched").
STARTED_BY_TAG = "payroll/started_by"
RUN_NAME_TAG = "payroll/run"
LAUNCHED_BY_TAG = "user"
STARTED_BY_SYNC = "sync"
STARTED_BY_DEMO = "demo"
STARTED_BY_SENSOR = "sensor"
STARTED_BY_BACKFILL = "backfill"


def run_tags(started_by: str, what: str) -> dict[str, str]:
    """The tags that make a run recognisable in the UI and in `instance.get_runs`."""
    return {STARTED_BY_TAG: started_by, RUN_NAME_TAG: f"{started_by}: {what}"}


# Dagster's own run tags for a partitioned run.
PARTITION_TAG = "dagster/partition"
COMPANY_TAG = "dagster/partition/company"
YEAR_TAG = "dagster/partition/year"

# Source labels written to the raw tables (`_source`, source_coverage, schema_drift.asset).
SOAP_SOURCE = "soap"
REST_SOURCE = "rest"
SOAP_REPORT_SOURCE = "soap_period_report"
REST_COMPONENTS_SOURCE = "rest_fixed+rest_variable"  # entered components (never loaded as computed lines)
RUN_OUTPUT_SOURCE = "run_output"  # the REST run output of every run, summed per period
COMPLETE_COVERAGE = "complete"
REST_ONLY_COVERAGE = "rest_only"
COMPANY_YEAR_DRIFT = "nmbrs/company_year"

# A run in one of these states holds (or will hold) its partition and its pool slots.
UNFINISHED = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)
