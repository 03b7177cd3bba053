{#- Where Nmbrs's own ledger set-up books each wage component, per company × payroll period, read
    from its total journal: a journal line whose description is the component's description (case
    and surrounding spaces ignored) on an account with a non-zero net amount in that period.
    nmbrs_sign: +1 debit, -1 credit, for a positive component amount. `is_ambiguous` when two
    components of the company-period share the description (their accounts cannot be told apart). -#}
with journal as (
    select
        company_id,
        journal_year as year,
        journal_period as period,
        lower(trim(description)) as description_key,
        gl_account,
        sum(signed_amount) as journal_amount,
        count(distinct run_number) as run_count
    from {{ ref('stg_nmbrs__journals') }}
    where variant = 'journals'
    group by 1, 2, 3, 4, 5
),

components as (
    select
        company_id,
        year,
        period,
        wage_component_code,
        lower(trim(wage_component_description)) as description_key,
        sum(amount) as component_amount
    from {{ ref('stg_nmbrs__wage_components') }}
    group by 1, 2, 3, 4, 5
),

shared as (
    select company_id, year, period, description_key, count(*) as components
    from components
    group by 1, 2, 3, 4
)

select
    components.company_id,
    components.year,
    components.period,
    components.wage_component_code,
    journal.gl_account,
    (sign(journal.journal_amount) * sign(components.component_amount))::integer as nmbrs_sign,
    journal.journal_amount::numeric(18, 2) as journal_amount,
    journal.run_count,
    shared.components > 1 as is_ambiguous
from components
inner join journal
    on journal.company_id = components.company_id
    and journal.year = components.year
    and journal.period = components.period
    and journal.description_key = components.description_key
inner join shared
    on shared.company_id = components.company_id
    and shared.year = components.year
    and shared.period = components.period
    and shared.description_key = components.description_key
where journal.journal_amount <> 0 and components.component_amount <> 0
