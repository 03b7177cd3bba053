{#- Each wage-component line joined to its company's resolved mapping rows: one output row per
    mapping row (two for a component on both PL and BS, one hidden row for totals). Lines without
    a mapping are reported by unmapped_wage_components, whose test stops the marts. -#}
with lines as (
    select * from {{ ref('stg_nmbrs__wage_components') }}
),

mappings as (
    select * from {{ ref('int_wage_component_mappings_resolved') }}
),

periods as (
    select * from {{ ref('int_payroll_periods') }}
),

chart as (
    select * from {{ ref('stg_erp__chart_of_accounts') }}
),

coverage as (
    select * from {{ ref('stg_nmbrs__source_coverage') }}
)

select
    lines.company_id,
    lines.employee_id,
    lines.year,
    lines.period,
    periods.period_type,
    periods.period_label,
    periods.period_end_date,
    periods.calendar_year,
    periods.calendar_month,
    lines.wage_component_code,
    lines.wage_component_description,
    mappings.mapping_scope,
    mappings.is_hidden,
    mappings.statement,
    mappings.gl_account,
    chart.gl_account_name,
    mappings.sign,
    lines.amount,
    (lines.amount * mappings.sign)::numeric(18, 2) as signed_amount,
    periods.last_run_id as run_id,
    lines.component_source as source,
    coalesce(
        coverage.coverage,
        case when lines.component_source like 'rest%' then 'rest_only' else 'complete' end
    ) as coverage
from lines
inner join mappings
    on mappings.company_id = lines.company_id
    and mappings.wage_component_code = lines.wage_component_code
left join periods
    on periods.company_id = lines.company_id
    and periods.year = lines.year
    and periods.period = lines.period
left join chart
    on chart.gl_account = mappings.gl_account
left join coverage
    on coverage.company_id = lines.company_id
    and coverage.year = lines.year
