{#- The body of the cost-centre and department cost marts: company costs (P&L lines of
    fct_payroll_lines, our mapping) per company × booking month × GL account, split over the cost
    centres or departments of Nmbrs's journal variant (`variant`: journalscostcenter or
    journalsdepartment) in proportion to what that variant books there, in cents by largest
    remainder, so every company × month × account sums back to the company costs to the cent.
    Where the variant has nothing for that company, month and account, the whole amount is one row
    with an empty dimension (source `no_journal`). -#}
{% macro costs_by_dimension(variant, dimension) %}
with costs as (
    select
        company_id,
        calendar_year as year,
        calendar_month as month,
        gl_account,
        max(gl_account_name) as gl_account_name,
        sum(signed_amount) as amount
    from {{ ref('fct_payroll_lines') }}
    where not is_hidden and statement = 'PL'
    group by 1, 2, 3, 4
),

companies as (
    select * from {{ ref('dim_companies') }}
),

journal as (
    select
        journals.company_id,
        extract(year from {{ period_end_date('companies.period_type', 'journals.journal_year', 'journals.journal_period') }})::integer as year,
        extract(month from {{ period_end_date('companies.period_type', 'journals.journal_year', 'journals.journal_period') }})::integer as month,
        journals.gl_account,
        journals.dimension,
        sum(journals.signed_amount) as amount
    from {{ ref('stg_nmbrs__journals') }} as journals
    inner join {{ ref('stg_nmbrs__companies') }} as companies
        on companies.company_id = journals.company_id
    where journals.variant = '{{ variant }}'
    group by 1, 2, 3, 4, 5
),

journal_totals as (
    select company_id, year, month, gl_account, sum(amount) as total
    from journal
    group by 1, 2, 3, 4
),

shares as (
    select
        costs.*,
        journal.dimension,
        case
            when journal_totals.total is null or journal_totals.total = 0 then costs.amount * 100
            else costs.amount * 100 * journal.amount / journal_totals.total
        end as exact_cents,
        journal_totals.total is not null and journal_totals.total <> 0 as from_journal
    from costs
    left join journal_totals
        on journal_totals.company_id = costs.company_id and journal_totals.year = costs.year
        and journal_totals.month = costs.month and journal_totals.gl_account = costs.gl_account
    left join journal
        on journal_totals.total <> 0
        and journal.company_id = costs.company_id and journal.year = costs.year
        and journal.month = costs.month and journal.gl_account = costs.gl_account
),

ranked as (
    select
        shares.*,
        floor(exact_cents) as base_cents,
        round(amount * 100) - sum(floor(exact_cents)) over (
            partition by company_id, year, month, gl_account
        ) as leftover_cents,
        row_number() over (
            partition by company_id, year, month, gl_account
            order by exact_cents - floor(exact_cents) desc, dimension
        ) as remainder_rank
    from shares
)

select
    ranked.company_id,
    companies.company_name,
    companies.erp_entity,
    ranked.year,
    ranked.month,
    make_date(ranked.year, ranked.month, 1) as month_start,
    case when ranked.from_journal then ranked.dimension end as {{ dimension }},
    ranked.gl_account,
    ranked.gl_account_name,
    ((ranked.base_cents + case when ranked.remainder_rank <= ranked.leftover_cents then 1 else 0 end) / 100)::numeric(18, 2)
        as amount,
    case when ranked.from_journal then 'journal' else 'no_journal' end as source
from ranked
left join companies
    on companies.company_id = ranked.company_id
{% endmacro %}
