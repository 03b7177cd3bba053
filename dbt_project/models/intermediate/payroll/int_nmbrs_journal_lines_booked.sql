{#- Nmbrs's total journal (variant `journals`) per line, in the month the reconciliation books it
    (var booking_basis): `period` the month holding the end date of the journal's period, `run` the
    month of the run that booked it. signed_amount: debit positive. -#}
{%- set basis = booking_basis() %}

with journals as (
    select * from {{ ref('stg_nmbrs__journals') }}
    where variant = 'journals'
),

companies as (
    select * from {{ ref('stg_nmbrs__companies') }}
),

runs as (
    select * from {{ ref('stg_nmbrs__payroll_runs') }}
),

placed as (
    select
        journals.*,
        {{ period_end_date('companies.period_type', 'journals.journal_year', 'journals.journal_period') }}
            as period_end_date,
        runs.run_at
    from journals
    left join companies
        on companies.company_id = journals.company_id
    left join runs
        on runs.company_id = journals.company_id
        and runs.year = journals.year
        and runs.run_number = journals.run_number
)

select
    placed.*,
    {% if basis == 'period' -%}
    extract(year from period_end_date)::integer as booking_year,
    extract(month from period_end_date)::integer as booking_month,
    {%- else -%}
    extract(year from run_at)::integer as booking_year,
    extract(month from run_at)::integer as booking_month,
    {%- endif %}
    '{{ basis }}'::text as booking_basis
from placed
