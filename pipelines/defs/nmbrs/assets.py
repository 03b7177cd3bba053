"""Nmbrs raw data as Dagster assets: what is loaded, from which API, cut how.

- `nmbrs/environment`, `nmbrs/companies`, `nmbrs/employees` with `nmbrs/employee_assignments`
  (departments and cost centres, one step): the whole environment, per sync.
- `nmbrs/payroll_runs`, `nmbrs/wage_components`, `nmbrs/payslips`, `nmbrs/source_coverage`,
  `nmbrs/journals`: per
  company × year (`company_year`), loaded together by one step so that all report tasks of a
  partition run concurrently on Nmbrs (pipelines/defs/nmbrs/company_year.py).
Every step runs in the `nmbrs_api` concurrency pool.
"""

import dagster as dg

from pipelines.defs import keys
from pipelines.defs.nmbrs import state, tables
from pipelines.defs.nmbrs.company_year import load_company_year
from pipelines.defs.nmbrs.partitions import company_year, register_companies, split_company_year
from pipelines.defs.nmbrs.resources import NmbrsResource
from pipelines.defs.nmbrs.steps import Step, api_step, step_metadata
from pipelines.defs.resources import WarehouseResource
from pipelines.lib import settings
from pipelines.lib.nmbrs.records import Company, Employee, PersonalData

# Transient errors (timeouts, 5xx, 429, Nmbrs 1006) are retried with growing, jittered delays;
# errors a retry cannot fix are raised as Failure(allow_retries=False) by api_step.
RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
KINDS = {"nmbrs", "postgres"}


def _loader(conn, step: Step, context: dg.AssetExecutionContext) -> tables.Loader:
    return tables.Loader(conn, step.session.api_source, context.run_id)


def _reference_asset(key: dg.AssetKey, deps: tuple[dg.AssetKey, ...] = ()):
    """An unpartitioned Nmbrs asset: group, pool, retries and kinds of every Nmbrs step."""
    return dg.asset(
        key=key, group_name=keys.NMBRS_GROUP, pool=keys.NMBRS_POOL, retry_policy=RETRY, kinds=KINDS, deps=deps
    )


@_reference_asset(keys.ENVIRONMENT)
def environment(context: dg.AssetExecutionContext, nmbrs: NmbrsResource, warehouse: WarehouseResource):
    """The Nmbrs environment the credentials belong to (domain) and the source mode in use."""
    with api_step(context, "environment", nmbrs) as step, warehouse.connect() as conn:
        row = step.session.environment()
        loaded = _loader(conn, step, context).replace(
            tables.ENVIRONMENT, tables.EnvironmentRow, [tables.as_tuple(row)]
        )
    return dg.MaterializeResult(metadata=step_metadata(step, rows=loaded, domain=row.domain or ""))


@_reference_asset(keys.COMPANIES, deps=(keys.ENVIRONMENT,))
def companies(context: dg.AssetExecutionContext, nmbrs: NmbrsResource, warehouse: WarehouseResource):
    """Every company the credentials can see; registers one `nmbrs_companies` partition per company."""
    with api_step(context, "companies", nmbrs) as step, warehouse.connect() as conn:
        rows = step.session.companies()
        loaded = _loader(conn, step, context).replace(
            tables.COMPANIES, Company, [tables.as_tuple(row) for row in rows]
        )
    new = register_companies(context.instance, [row.company_id for row in rows])
    return dg.MaterializeResult(
        metadata=step_metadata(step, rows=loaded, companies=len(rows), new_partitions=len(new))
    )


def _reference_spec(key: dg.AssetKey, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key, deps=[keys.COMPANIES], group_name=keys.NMBRS_GROUP, kinds=KINDS, description=description
    )


@dg.multi_asset(
    name="nmbrs__employees",
    specs=[
        _reference_spec(
            keys.EMPLOYEES,
            "Employees per company: names and employment data only (BSN, birth date and work e-mail go "
            "to nmbrs_restricted.employee_personal only with PAYROLL_STORE_PERSONAL_DATA=true).",
        ),
        _reference_spec(
            keys.EMPLOYEE_ASSIGNMENTS,
            "The employees' department and cost-centre histories (REST, on the employee numbers), "
            "loaded with the employees; empty in soap mode (the materialization says unavailable).",
        ),
    ],
    pool=keys.NMBRS_POOL,
    retry_policy=RETRY,
)
def employees(context: dg.AssetExecutionContext, nmbrs: NmbrsResource, warehouse: WarehouseResource):
    """Employees per company: names and employment data only, and (rest, rest+soap) their department
    and cost-centre history in nmbrs.employee_assignments (emptied in soap mode, which has none).

    BSN, birth date and work e-mail go to nmbrs_restricted.employee_personal only with
    PAYROLL_STORE_PERSONAL_DATA=true; otherwise that table is emptied.
    """
    store_personal = settings.store_personal_data()
    with api_step(context, "employees", nmbrs) as step, warehouse.connect() as conn:
        company_ids = state.company_ids(conn)
        people, personal, assignments = [], [], []
        for company_id in company_ids:
            rows, history = step.session.employees_with_assignments(company_id)
            assignments.extend(history)
            for row, private in rows:
                people.append(tables.as_tuple(row))
                if store_personal:
                    personal.append(tables.as_tuple(private))
        loader = _loader(conn, step, context)
        loaded = loader.replace(tables.EMPLOYEES, Employee, people)
        assigned = loader.replace(tables.EMPLOYEE_ASSIGNMENTS, tables.AssignmentRow, assignments)
        restricted = loader.replace(tables.EMPLOYEE_PERSONAL, PersonalData, personal)
    yield dg.MaterializeResult(
        asset_key=keys.EMPLOYEES,
        metadata=step_metadata(
            step,
            rows=loaded,
            companies=len(company_ids),
            personal_data_stored=store_personal,
            restricted_rows=restricted,
        ),
    )
    detail = {} if step.session.has_employee_assignments else {"unavailable": UNAVAILABLE_ASSIGNMENTS}
    yield dg.MaterializeResult(
        asset_key=keys.EMPLOYEE_ASSIGNMENTS,
        metadata=step_metadata(step, rows=assigned, companies=len(company_ids), **detail),
    )


UNAVAILABLE_ASSIGNMENTS = "departments and cost centres come from the REST API; source mode soap"


def _company_year_spec(key: dg.AssetKey, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key, deps=[keys.COMPANIES], group_name=keys.NMBRS_GROUP, kinds=KINDS, description=description
    )


class CompanyYearConfig(dg.Config):
    refresh: bool = False
    """Fetch every run's payslips and the wage-component report again, even if nothing changed."""


@dg.multi_asset(
    name=keys.COMPANY_YEAR_OP,
    specs=[
        _company_year_spec(keys.PAYROLL_RUNS, "Payroll runs of the company-year."),
        _company_year_spec(
            keys.WAGE_COMPONENTS,
            "Per employee × period × component; the REST run outputs summed per period, or the SOAP report.",
        ),
        _company_year_spec(
            keys.PAYSLIPS,
            "Payslip lines per run (the REST run output, or the SOAP payslip report); replaced per run, "
            "only runs that are new or changed.",
        ),
        _company_year_spec(
            keys.SOURCE_COVERAGE,
            "Which API delivered the wage components (REST run output or SOAP report) and their coverage.",
        ),
        _company_year_spec(
            keys.JOURNALS,
            "Nmbrs's payroll journal per run (REST documents; total, cost-centre and department "
            "variants): GL account as set up in Nmbrs, debit or credit, amount. None in soap mode.",
        ),
    ],
    partitions_def=company_year,
    can_subset=True,
    pool=keys.NMBRS_POOL,
    retry_policy=RETRY,
)
def nmbrs_company_year(
    context: dg.AssetExecutionContext,
    config: CompanyYearConfig,
    nmbrs: NmbrsResource,
    warehouse: WarehouseResource,
):
    company_id, year = split_company_year(context.partition_key)
    with api_step(context, f"company {company_id}, year {year}", nmbrs) as step, warehouse.connect() as conn:
        outcome = load_company_year(
            step.session,
            conn,
            company_id,
            year,
            selected=frozenset(context.selected_asset_keys),
            refresh=config.refresh,
            run_id=context.run_id,
        )
    for key, table in outcome.tables.items():
        yield dg.MaterializeResult(
            asset_key=key,
            metadata=step_metadata(
                step,
                rows=table.rows,
                rows_loaded=table.rows_loaded,
                changed=table.changed,
                partition=context.partition_key,
                drift=outcome.drift,
                **table.detail,
            ),
        )
