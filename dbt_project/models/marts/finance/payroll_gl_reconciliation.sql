{{ config(
    materialized=slice_materialization(),
    incremental_strategy='delete+insert',
    unique_key=['company_id', 'year'],
    indexes=[{'columns': ['company_id', 'year']}],
) }}
{#- Payroll against the ERP per company, calendar month, statement and GL account. Scope: the accounts
    the company's mapping posts to, in the months from its first to its last payroll month.
    difference = payroll_amount - erp_amount; matched when |difference| <= var reconciliation_tolerance. -#}
{%- set slice = company_year_slice() %}
{%- set tolerance = var('reconciliation_tolerance') %}

with payroll_lines as (
    select * from {{ ref('fct_payroll_lines') }}
    where not is_hidden
),

slice_years as (
    {% if slice is not none and is_incremental() -%}
    select distinct calendar_year as year from payroll_lines
    where company_id = {{ slice.company_id }} and year = {{ slice.year }}
    union select {{ slice.year }}
    {%- else -%}
    select distinct calendar_year as year from payroll_lines
    union select distinct year from {{ ref('stg_erp__gl_movements') }}
    {%- endif %}
),

companies as (
    select * from {{ ref('dim_companies') }}
    {% if slice is not none and is_incremental() -%}
    where company_id = {{ slice.company_id }}
    {%- endif %}
),

scope as (
    select distinct company_id, gl_account
    from {{ ref('int_wage_component_mappings_resolved') }}
    where not is_hidden
),

company_months as (
    select
        company_id,
        min(calendar_year * 12 + calendar_month - 1) as first_month_index,
        max(calendar_year * 12 + calendar_month - 1) as last_month_index
    from payroll_lines
    where company_id in (select company_id from companies)
    group by company_id
),

payroll as (
    select
        company_id,
        calendar_year as year,
        calendar_month as month,
        gl_account,
        sum(signed_amount) as payroll_amount
    from payroll_lines
    where company_id in (select company_id from companies)
        and calendar_year in (select year from slice_years)
    group by company_id, calendar_year, calendar_month, gl_account
),

erp as (
    select
        companies.company_id,
        movements.year,
        movements.month,
        movements.gl_account,
        sum(movements.amount) as erp_amount
    from {{ ref('stg_erp__gl_movements') }} as movements
    inner join companies
        on companies.erp_entity = movements.erp_entity
    inner join scope
        on scope.company_id = companies.company_id
        and scope.gl_account = movements.gl_account
    inner join company_months
        on company_months.company_id = companies.company_id
        and movements.year * 12 + movements.month - 1
            between company_months.first_month_index and company_months.last_month_index
    where movements.year in (select year from slice_years)
    group by companies.company_id, movements.year, movements.month, movements.gl_account
),

joined as (
    select
        coalesce(payroll.company_id, erp.company_id) as company_id,
        coalesce(payroll.year, erp.year) as year,
        coalesce(payroll.month, erp.month) as month,
        coalesce(payroll.gl_account, erp.gl_account) as gl_account,
        payroll.payroll_amount,
        erp.erp_amount
    from payroll
    full outer join erp
        on erp.company_id = payroll.company_id
        and erp.year = payroll.year
        and erp.month = payroll.month
        and erp.gl_account = payroll.gl_account
)

select
    joined.company_id,
    companies.company_name,
    companies.erp_entity,
    joined.year,
    joined.month,
    make_date(joined.year, joined.month, 1) as month_start,
    chart.statement,
    joined.gl_account,
    chart.gl_account_name,
    coalesce(joined.payroll_amount, 0)::numeric(18, 2) as payroll_amount,
    coalesce(joined.erp_amount, 0)::numeric(18, 2) as erp_amount,
    (coalesce(joined.payroll_amount, 0) - coalesce(joined.erp_amount, 0))::numeric(18, 2) as difference,
    case
        when joined.erp_amount is null then 'missing_in_erp'
        when joined.payroll_amount is null then 'missing_in_payroll'
        when abs(joined.payroll_amount - joined.erp_amount) <= {{ tolerance }} then 'matched'
        else 'difference'
    end as status
from joined
left join companies
    on companies.company_id = joined.company_id
left join {{ ref('stg_erp__chart_of_accounts') }} as chart
    on chart.gl_account = joined.gl_account
