{#- Every company × year × period with data, placed in a calendar month by the period_to_month rule,
    with its label (macro period_label) and the last payroll run that covered it. -#}
with companies as (
    select * from {{ ref('stg_nmbrs__companies') }}
),

periods as (
    select company_id, year, period from {{ ref('stg_nmbrs__wage_components') }}
    union
    select company_id, year, period from {{ ref('stg_nmbrs__payslips') }}
),

runs_ranked as (
    select
        periods.company_id,
        periods.year,
        periods.period,
        runs.run_id,
        row_number() over (
            partition by periods.company_id, periods.year, periods.period
            order by runs.run_number desc, runs.run_at desc
        ) as recency
    from periods
    inner join {{ ref('stg_nmbrs__payroll_runs') }} as runs
        on runs.company_id = periods.company_id
        and runs.year = periods.year
        and periods.period between runs.period_start and runs.period_end
),

placed as (
    select
        periods.company_id,
        periods.year,
        periods.period,
        companies.period_type,
        {{ period_end_date('companies.period_type', 'periods.year', 'periods.period') }} as period_end_date,
        {{ period_label('companies.period_type', 'periods.year', 'periods.period') }} as period_label
    from periods
    left join companies
        on companies.company_id = periods.company_id
)

select
    placed.company_id,
    placed.year,
    placed.period,
    placed.period_type,
    placed.period_label,
    placed.period_end_date,
    extract(year from placed.period_end_date)::integer as calendar_year,
    extract(month from placed.period_end_date)::integer as calendar_month,
    runs_ranked.run_id as last_run_id
from placed
left join runs_ranked
    on runs_ranked.company_id = placed.company_id
    and runs_ranked.year = placed.year
    and runs_ranked.period = placed.period
    and runs_ranked.recency = 1
