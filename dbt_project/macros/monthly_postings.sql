{#- The body of the monthly postings marts (payroll_company_costs_monthly for statement PL,
    payroll_balance_sheet_postings_monthly for BS): per company, calendar month and GL account of
    that statement, the signed payroll amount with the periods booked in the month. A slice run
    rebuilds the calendar years that the company's payroll year touches. -#}
{% macro monthly_postings(statement) %}
with lines as (
    select * from {{ ref('fct_payroll_lines') }}
    where not is_hidden
        and statement = '{{ statement }}'
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
    sum(lines.signed_amount)::numeric(18, 2) as amount,
    count(distinct lines.employee_id)::integer as employee_count,
    bool_or(lines.is_rest_only) as is_rest_only
from lines
left join companies
    on companies.company_id = lines.company_id
group by
    lines.company_id, companies.company_name, companies.erp_entity, companies.period_type,
    lines.calendar_year, lines.calendar_month, lines.statement, lines.gl_account
{% endmacro %}
