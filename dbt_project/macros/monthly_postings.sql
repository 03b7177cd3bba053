{#- The body of the monthly postings marts (payroll_company_costs_monthly for statement PL,
    payroll_balance_sheet_postings_monthly for BS): per company, calendar month and GL account of
    that statement, the signed payroll amount with the periods booked in the month. A slice run
    rebuilds the calendar years that the company's payroll year touches.
    With var four_weekly_allocation = days, each period's amount per account is spread over the
    months by the calendar days the period covers, in cents, the leftover cents going to the
    largest remainders (ties: the earlier month), so the months sum back to the period exactly. -#}
{% macro monthly_postings_materialization() %}
    {#- Spread periods reach into neighbouring calendar years: those builds are always in full. -#}
    {{ return('table' if four_weekly_allocation() == 'days' else slice_materialization()) }}
{% endmacro %}

{% macro monthly_postings(statement) %}
{%- set allocation = four_weekly_allocation() %}
with lines as (
    select * from {{ ref('fct_payroll_lines') }}
    where not is_hidden
        and statement = '{{ statement }}'
        {{ calendar_years_of_slice_condition() }}
),

companies as (
    select * from {{ ref('dim_companies') }}
)
{%- if allocation == 'days' %},

periods as (
    select distinct
        company_id,
        year,
        period,
        period_end_date,
        {{ period_start_date('period_type', 'year', 'period') }} as period_start_date
    from lines
),

period_months as (
    select
        periods.company_id,
        periods.year,
        periods.period,
        months.month_start::date as month_start,
        (least(periods.period_end_date, (months.month_start + interval '1 month' - interval '1 day')::date)
            - greatest(periods.period_start_date, months.month_start::date) + 1) as days,
        (periods.period_end_date - periods.period_start_date + 1) as period_days
    from periods
    cross join lateral generate_series(
        date_trunc('month', periods.period_start_date),
        date_trunc('month', periods.period_end_date),
        interval '1 month'
    ) as months (month_start)
),

period_amounts as (
    select
        company_id,
        year,
        period,
        period_label,
        statement,
        gl_account,
        max(gl_account_name) as gl_account_name,
        bool_or(is_rest_only) as is_rest_only,
        (sum(signed_amount) * 100)::numeric as cents
    from lines
    group by company_id, year, period, period_label, statement, gl_account
),

shares as (
    select
        period_amounts.*,
        period_months.month_start,
        floor(period_amounts.cents * period_months.days / period_months.period_days) as base_cents,
        period_amounts.cents * period_months.days / period_months.period_days
            - floor(period_amounts.cents * period_months.days / period_months.period_days) as remainder
    from period_amounts
    inner join period_months
        on period_months.company_id = period_amounts.company_id
        and period_months.year = period_amounts.year
        and period_months.period = period_amounts.period
),

ranked as (
    select
        shares.*,
        shares.cents - sum(shares.base_cents) over (
            partition by company_id, year, period, statement, gl_account
        ) as leftover_cents,
        row_number() over (
            partition by company_id, year, period, statement, gl_account
            order by remainder desc, month_start
        ) as remainder_rank
    from shares
),

allocated as (
    select
        company_id,
        extract(year from month_start)::integer as calendar_year,
        extract(month from month_start)::integer as calendar_month,
        period_label,
        statement,
        gl_account,
        gl_account_name,
        is_rest_only,
        (base_cents + case when remainder_rank <= leftover_cents then 1 else 0 end) / 100 as amount
    from ranked
),

employees as (
    select
        lines.company_id,
        extract(year from period_months.month_start)::integer as calendar_year,
        extract(month from period_months.month_start)::integer as calendar_month,
        lines.gl_account,
        count(distinct lines.employee_id)::integer as employee_count
    from lines
    inner join period_months
        on period_months.company_id = lines.company_id
        and period_months.year = lines.year
        and period_months.period = lines.period
    group by 1, 2, 3, 4
)

select
    allocated.company_id,
    companies.company_name,
    companies.erp_entity,
    companies.period_type,
    allocated.calendar_year as year,
    allocated.calendar_month as month,
    make_date(allocated.calendar_year, allocated.calendar_month, 1) as month_start,
    string_agg(distinct allocated.period_label, ', ' order by allocated.period_label) as payroll_periods,
    allocated.statement,
    allocated.gl_account,
    max(allocated.gl_account_name) as gl_account_name,
    sum(allocated.amount)::numeric(18, 2) as amount,
    max(employees.employee_count)::integer as employee_count,
    bool_or(allocated.is_rest_only) as is_rest_only
from allocated
left join companies
    on companies.company_id = allocated.company_id
left join employees
    on employees.company_id = allocated.company_id
    and employees.calendar_year = allocated.calendar_year
    and employees.calendar_month = allocated.calendar_month
    and employees.gl_account = allocated.gl_account
group by
    allocated.company_id, companies.company_name, companies.erp_entity, companies.period_type,
    allocated.calendar_year, allocated.calendar_month, allocated.statement, allocated.gl_account
{%- else %}

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
{%- endif %}
{% endmacro %}
