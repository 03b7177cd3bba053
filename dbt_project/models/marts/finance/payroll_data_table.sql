{{ config(
    materialized=slice_materialization(),
    incremental_strategy='delete+insert',
    unique_key=['company_id', 'year'],
    indexes=[{'columns': ['company_id', 'year']}],
) }}
{#- The pivot data table: one row per company, calendar month, statement, GL account and wage
    component, with every label spelled out, for spreadsheet pivots (`payroll export` writes it as
    is). A slice run rebuilds the calendar years that the company's payroll year touches. -#}
with lines as (
    select * from {{ ref('fct_payroll_lines') }}
    where not is_hidden
        {{ calendar_years_of_slice_condition() }}
),

companies as (
    select * from {{ ref('dim_companies') }}
)

select
    lines.company_id,
    companies.company_name,
    companies.erp_entity,
    companies.period_type,
    lines.calendar_year as year,
    lines.calendar_month as month,
    make_date(lines.calendar_year, lines.calendar_month, 1) as month_start,
    string_agg(distinct lines.period_label, ', ' order by lines.period_label) as payroll_periods,
    lines.statement,
    lines.gl_account,
    max(lines.gl_account_name) as gl_account_name,
    lines.wage_component_code,
    max(lines.wage_component_description) as wage_component_description,
    lines.mapping_scope,
    lines.sign,
    string_agg(distinct lines.coverage, ', ' order by lines.coverage) as coverage,
    count(distinct lines.employee_id)::integer as employee_count,
    sum(lines.amount)::numeric(18, 2) as nmbrs_amount,
    sum(lines.signed_amount)::numeric(18, 2) as amount
from lines
left join companies
    on companies.company_id = lines.company_id
group by
    lines.company_id, companies.company_name, companies.erp_entity, companies.period_type,
    lines.calendar_year, lines.calendar_month, lines.statement, lines.gl_account,
    lines.wage_component_code, lines.mapping_scope, lines.sign
