{{ config(
    materialized=slice_materialization(),
    incremental_strategy='delete+insert',
    unique_key=['company_id', 'year'],
    indexes=[{'columns': ['company_id', 'year']}],
) }}
{#- The run-level drill-down: payslip lines per run. A correction run holds the differences it makes,
    so summing over runs gives the per-period report (checked by payslips_match_period_report). -#}
{%- set slice = company_year_slice() %}

with payslips as (
    select * from {{ ref('stg_nmbrs__payslips') }}
    {% if slice is not none and is_incremental() -%}
    where company_id = {{ slice.company_id }} and year = {{ slice.year }}
    {%- endif %}
),

runs as (
    select * from {{ ref('stg_nmbrs__payroll_runs') }}
),

periods as (
    select * from {{ ref('int_payroll_periods') }}
)

select
    payslips.company_id,
    payslips.year,
    payslips.run_id,
    payslips.run_number,
    runs.run_description,
    runs.run_at,
    runs.run_type,
    payslips.period,
    periods.period_label,
    periods.calendar_year,
    periods.calendar_month,
    payslips.employee_id,
    payslips.wage_component_code,
    payslips.wage_component_description,
    payslips.amount::numeric(18, 2) as amount
from payslips
left join runs
    on runs.company_id = payslips.company_id
    and runs.year = payslips.year
    and runs.run_id = payslips.run_id
left join periods
    on periods.company_id = payslips.company_id
    and periods.year = payslips.year
    and periods.period = payslips.period
