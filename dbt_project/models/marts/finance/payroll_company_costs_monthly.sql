{{ config(
    materialized=slice_materialization(),
    incremental_strategy='delete+insert',
    unique_key=['company_id', 'year'],
    indexes=[{'columns': ['company_id', 'year']}],
) }}
{#- "Company costs": per company, calendar month and GL account, the signed payroll amount. A slice
    run rebuilds the calendar years that the company's payroll year touches. -#}
{%- set slice = company_year_slice() %}

with lines as (
    select * from {{ ref('fct_payroll_lines') }}
    where not is_hidden
    {% if slice is not none and is_incremental() -%}
        and company_id = {{ slice.company_id }}
        and calendar_year in (
            select calendar_year from {{ ref('fct_payroll_lines') }}
            where company_id = {{ slice.company_id }} and year = {{ slice.year }}
            union select {{ slice.year }}
        )
    {%- endif %}
),

companies as (
    select * from {{ ref('dim_companies') }}
)

select
    lines.company_id,
    companies.company_name,
    companies.erp_entity,
    lines.calendar_year as year,
    lines.calendar_month as month,
    make_date(lines.calendar_year, lines.calendar_month, 1) as month_start,
    lines.statement,
    lines.gl_account,
    max(lines.gl_account_name) as gl_account_name,
    sum(lines.signed_amount) as amount,
    count(distinct lines.employee_id) as employee_count,
    bool_or(lines.is_rest_only) as is_rest_only
from lines
left join companies
    on companies.company_id = lines.company_id
group by
    lines.company_id, companies.company_name, companies.erp_entity,
    lines.calendar_year, lines.calendar_month, lines.statement, lines.gl_account
