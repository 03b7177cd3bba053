"""Nmbrs raw data as Dagster assets: what is loaded, from which API, cut how.

- `nmbrs/environment`, `nmbrs/companies`, `nmbrs/employees`: the whole environment, per sync.
- `nmbrs/payroll_runs`, `nmbrs/wage_components`, `nmbrs/payslips`, `nmbrs/source_coverage`: per
  company × year (`company_year`), loaded together by one step so that all report tasks of a
  partition run concurrently on Nmbrs (pipelines/defs/nmbrs/company_year.py).
Every step runs in the `nmbrs_api` concurrency pool.
"""

import dagster as dg

from pipelines.defs.nmbrs import company_year as cy
from pipelines.defs.nmbrs import tables
from pipelines.defs.nmbrs.partitions import COMPANIES, company_year, split_company_year
from pipelines.defs.nmbrs.resources import NmbrsResource
from pipelines.defs.nmbrs.steps import api_step, step_metadata
from pipelines.defs.resources import WarehouseResource
from pipelines.lib import warehouse
from pipelines.lib.nmbrs.records import Company, Employee, PersonalData
from pipelines.lib.settings import env_flag

GROUP = "nmbrs_raw"
POOL = "nmbrs_api"
PERSONAL_DATA_FLAG = "PAYROLL_STORE_PERSONAL_DATA"

# Transient errors (timeouts, 5xx, 429, Nmbrs 1006) are retried with growing, jittered delays;
# errors a retry cannot fix are raised as Failure(allow_retries=False) by api_step.
RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def _key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["nmbrs", name])


@dg.asset(
    key=_key("environment"), group_name=GROUP, pool=POOL, retry_policy=RETRY, kinds={"nmbrs", "postgres"}
)
def environment(context: dg.AssetExecutionContext, nmbrs: NmbrsResource, warehouse: WarehouseResource):
    """The Nmbrs environment the credentials belong to (domain) and the source mode in use."""
    with api_step(context, "environment", nmbrs) as step, warehouse.connect() as conn:
        row = step.session.environment()
        loaded = _replace(
            conn, tables.ENVIRONMENT, {}, tables.EnvironmentRow, [tables.as_tuple(row)], step, context
        )
    return dg.MaterializeResult(metadata=step_metadata(step, rows=loaded, domain=row.domain or ""))


@dg.asset(
    key=_key("companies"),
    group_name=GROUP,
    pool=POOL,
    retry_policy=RETRY,
    kinds={"nmbrs", "postgres"},
    deps=[_key("environment")],
)
def companies(context: dg.AssetExecutionContext, nmbrs: NmbrsResource, warehouse: WarehouseResource):
    """Every company the credentials can see; registers one `nmbrs_companies` partition per company."""
    with api_step(context, "companies", nmbrs) as step, warehouse.connect() as conn:
        rows = step.session.companies()
        loaded = _replace(
            conn, tables.COMPANIES, {}, Company, [tables.as_tuple(r) for r in rows], step, context
        )
    keys = [str(row.company_id) for row in rows]
    known = set(context.instance.get_dynamic_partitions(COMPANIES))
    new = [key for key in keys if key not in known]
    if new:
        context.instance.add_dynamic_partitions(COMPANIES, new)
    return dg.MaterializeResult(
        metadata=step_metadata(step, rows=loaded, companies=len(keys), new_partitions=len(new))
    )


@dg.asset(
    key=_key("employees"),
    group_name=GROUP,
    pool=POOL,
    retry_policy=RETRY,
    kinds={"nmbrs", "postgres"},
    deps=[_key("companies")],
)
def employees(context: dg.AssetExecutionContext, nmbrs: NmbrsResource, warehouse: WarehouseResource):
    """Employees per company: names and employment data only.

    BSN, birth date and work e-mail go to nmbrs_restricted.employee_personal only with
    PAYROLL_STORE_PERSONAL_DATA=true; otherwise that table is emptied.
    """
    store_personal = env_flag(PERSONAL_DATA_FLAG)
    with api_step(context, "employees", nmbrs) as step, warehouse.connect() as conn:
        company_ids = _company_ids(conn)
        people, personal = [], []
        for company_id in company_ids:
            for row, private in step.session.employees(company_id):
                people.append(tables.as_tuple(row))
                if store_personal:
                    personal.append(tables.as_tuple(private))
        loaded = _replace(conn, tables.EMPLOYEES, {}, Employee, people, step, context)
        restricted = _replace(conn, tables.EMPLOYEE_PERSONAL, {}, PersonalData, personal, step, context)
    return dg.MaterializeResult(
        metadata=step_metadata(
            step,
            rows=loaded,
            companies=len(company_ids),
            personal_data_stored=store_personal,
            restricted_rows=restricted,
        )
    )


def _company_ids(conn) -> list[int]:
    with conn.cursor() as cur:
        cur.execute("select company_id from nmbrs.companies order by company_id")
        ids = [row[0] for row in cur.fetchall()]
    conn.rollback()
    return ids


def _replace(conn, table, where, record, rows, step, context) -> int:
    return warehouse.replace_partition(
        conn,
        table,
        where,
        tables.columns(record),
        rows,
        source=step.session.api_source,
        run_id=context.run_id,
    )


def _company_year_spec(table: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        _key(table),
        deps=[_key("companies")],
        group_name=GROUP,
        kinds={"nmbrs", "postgres"},
        description=description,
    )


class CompanyYearConfig(dg.Config):
    refresh: bool = False
    """Fetch every run's payslips and the wage-component report again, even if nothing changed."""


@dg.multi_asset(
    name="nmbrs_company_year",
    specs=[
        _company_year_spec(cy.PAYROLL_RUNS, "Payroll runs of the company-year."),
        _company_year_spec(
            cy.WAGE_COMPONENTS, "Per employee × period × component; the SOAP report, or REST fixed+variable."
        ),
        _company_year_spec(
            cy.PAYSLIPS, "Payslip lines per run (SOAP); replaced per run, only runs that are new or changed."
        ),
        _company_year_spec(
            cy.SOURCE_COVERAGE, "Which API delivered the wage components: complete (SOAP) or rest_only."
        ),
    ],
    partitions_def=company_year,
    can_subset=True,
    pool=POOL,
    retry_policy=RETRY,
)
def nmbrs_company_year(
    context: dg.AssetExecutionContext,
    config: CompanyYearConfig,
    nmbrs: NmbrsResource,
    warehouse: WarehouseResource,
):
    company_id, year = split_company_year(context.partition_key)
    selected = frozenset(key.path[-1] for key in context.selected_asset_keys)
    with api_step(context, f"company {company_id}, year {year}", nmbrs) as step, warehouse.connect() as conn:
        outcome = cy.load_company_year(
            step.session,
            conn,
            company_id,
            year,
            selected=selected,
            refresh=config.refresh,
            run_id=context.run_id,
        )
    for name, table in outcome.tables.items():
        yield dg.MaterializeResult(
            asset_key=_key(name),
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
