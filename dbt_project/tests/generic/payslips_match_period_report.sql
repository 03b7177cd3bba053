{#- Σ payslip lines over all runs = the per-period wage-component report, per company × year ×
    period × employee × code, for the company-years whose payslips were loaded and whose report came
    from SOAP (complete coverage). Lists every disagreement between the two Nmbrs sources. -#}
{% test payslips_match_period_report(model) %}
with payslip_lines as (
    select * from {{ model }}
),

payslip_totals as (
    select company_id, year, period, employee_id, wage_component_code, sum(amount) as payslip_amount
    from payslip_lines
    group by company_id, year, period, employee_id, wage_component_code
),

compared_years as (
    select distinct payslips.company_id, payslips.year
    from payslip_lines as payslips
    where not exists (
        select 1 from {{ ref('stg_nmbrs__source_coverage') }} as coverage
        where coverage.company_id = payslips.company_id
            and coverage.year = payslips.year
            and coverage.coverage = 'rest_only'
    )
),

report as (
    select
        lines.company_id, lines.year, lines.period, lines.employee_id, lines.wage_component_code,
        lines.amount as report_amount
    from {{ ref('stg_nmbrs__wage_components') }} as lines
    inner join compared_years
        on compared_years.company_id = lines.company_id
        and compared_years.year = lines.year
)

select
    coalesce(report.company_id, payslip_totals.company_id) as company_id,
    coalesce(report.year, payslip_totals.year) as year,
    coalesce(report.period, payslip_totals.period) as period,
    coalesce(report.employee_id, payslip_totals.employee_id) as employee_id,
    coalesce(report.wage_component_code, payslip_totals.wage_component_code) as wage_component_code,
    report.report_amount,
    payslip_totals.payslip_amount
from report
full outer join payslip_totals
    on payslip_totals.company_id = report.company_id
    and payslip_totals.year = report.year
    and payslip_totals.period = report.period
    and payslip_totals.employee_id = report.employee_id
    and payslip_totals.wage_component_code = report.wage_component_code
where coalesce(report.report_amount, 0) <> coalesce(payslip_totals.payslip_amount, 0)
    and (payslip_totals.company_id is not null
        or (report.company_id, report.year) in (select company_id, year from compared_years))
{% endtest %}
