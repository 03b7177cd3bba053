{#- Wage-component lines (employee × component × period, hidden totals included) in the month the
    reconciliation books them (var booking_basis, macro booking_basis):
    - period: the per-period report (latest values) in the month holding the period's end date;
    - run: every payroll run's payslip lines (a correction run: its differences) in the month of the
      run's run_at, so a December correction of March lands in December. -#}
{%- set basis = booking_basis() %}

with periods as (
    select * from {{ ref('int_payroll_periods') }}
),

{% if basis == 'period' -%}
lines as (
    select
        lines.company_id,
        lines.employee_id,
        lines.year,
        lines.period,
        null::text as run_id,
        null::integer as run_number,
        lines.wage_component_code,
        lines.wage_component_description,
        lines.amount,
        periods.calendar_year as booking_year,
        periods.calendar_month as booking_month
    from {{ ref('stg_nmbrs__wage_components') }} as lines
    left join periods
        on periods.company_id = lines.company_id
        and periods.year = lines.year
        and periods.period = lines.period
)
{%- else -%}
lines as (
    select
        payslips.company_id,
        payslips.employee_id,
        payslips.year,
        payslips.period,
        payslips.run_id,
        payslips.run_number,
        payslips.wage_component_code,
        payslips.wage_component_description,
        payslips.amount,
        extract(year from runs.run_at)::integer as booking_year,
        extract(month from runs.run_at)::integer as booking_month
    from {{ ref('stg_nmbrs__payslips') }} as payslips
    inner join {{ ref('stg_nmbrs__payroll_runs') }} as runs
        on runs.company_id = payslips.company_id
        and runs.year = payslips.year
        and runs.run_number = payslips.run_number
)
{%- endif %}

select
    lines.*,
    periods.period_label,
    '{{ basis }}'::text as booking_basis
from lines
left join periods
    on periods.company_id = lines.company_id
    and periods.year = lines.year
    and periods.period = lines.period
