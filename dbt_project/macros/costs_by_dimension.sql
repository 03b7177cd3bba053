{#- The body of the cost-centre and department cost marts: company costs (P&L lines of
    fct_payroll_lines, our mapping) per company × booking month × GL account × cost centre or
    department (`dimension`), from one of two sources:
    - `journal`: where Nmbrs's journal variant (`variant`: journalscostcenter or journalsdepartment)
      books something on that company, month and account, the amount is split over the variant's
      cost centres or departments in proportion to what it books there, in cents by largest
      remainder, so every company × month × account sums back to the company costs to the cent;
    - otherwise each payroll line goes to the department or cost centre (`kind` of
      stg_nmbrs__employee_assignments) valid for its employee in the line's payroll period
      (`employee_history`), or, for an employee with no entry valid then, to one row with an empty
      dimension (`unassigned`). These rows are sums of whole lines, so they add up exactly.
    The entry valid in a period is the latest one starting on or before it; of entries starting in
    the same period the last recorded (assigned_at, then code) wins, and an entry without a period
    counts from the employee's first period. -#}
{% macro costs_by_dimension(variant, dimension, kind) %}
with lines as (
    select * from {{ ref('fct_payroll_lines') }}
    where not is_hidden and statement = 'PL'
),

costs as (
    select
        company_id,
        calendar_year as year,
        calendar_month as month,
        gl_account,
        max(gl_account_name) as gl_account_name,
        sum(signed_amount) as amount
    from lines
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
    having sum(amount) <> 0
),

shares as (
    select
        costs.*,
        journal.dimension,
        costs.amount * 100 * journal.amount / journal_totals.total as exact_cents
    from costs
    inner join journal_totals
        on journal_totals.company_id = costs.company_id and journal_totals.year = costs.year
        and journal_totals.month = costs.month and journal_totals.gl_account = costs.gl_account
    inner join journal
        on journal.company_id = costs.company_id and journal.year = costs.year
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
),

from_journal as (
    select
        company_id,
        year,
        month,
        gl_account,
        gl_account_name,
        dimension,
        ((base_cents + case when remainder_rank <= leftover_cents then 1 else 0 end) / 100)::numeric(18, 2)
            as amount,
        'journal' as source
    from ranked
),

assignments as (
    select
        company_id,
        employee_id,
        code,
        coalesce(valid_from_year, 0) * 100 + coalesce(valid_from_period, 0) as from_key,
        lead(coalesce(valid_from_year, 0) * 100 + coalesce(valid_from_period, 0)) over (
            partition by company_id, employee_id
            order by coalesce(valid_from_year, 0), coalesce(valid_from_period, 0), assigned_at nulls first, code
        ) as to_key
    from {{ ref('stg_nmbrs__employee_assignments') }}
    where kind = '{{ kind }}'
),

from_history as (
    select
        lines.company_id,
        lines.calendar_year as year,
        lines.calendar_month as month,
        lines.gl_account,
        max(lines.gl_account_name) as gl_account_name,
        assignments.code as dimension,
        sum(lines.signed_amount)::numeric(18, 2) as amount,
        case when assignments.code is null then 'unassigned' else 'employee_history' end as source
    from lines
    left join assignments
        on assignments.company_id = lines.company_id
        and assignments.employee_id = lines.employee_id
        and lines.year * 100 + lines.period >= assignments.from_key
        and (assignments.to_key is null or lines.year * 100 + lines.period < assignments.to_key)
    where not exists (
        select 1 from journal_totals
        where journal_totals.company_id = lines.company_id and journal_totals.year = lines.calendar_year
            and journal_totals.month = lines.calendar_month and journal_totals.gl_account = lines.gl_account
    )
    group by 1, 2, 3, 4, 6, 8
),

split as (
    select * from from_journal
    union all
    select * from from_history
)

select
    split.company_id,
    companies.company_name,
    companies.erp_entity,
    split.year,
    split.month,
    make_date(split.year, split.month, 1) as month_start,
    split.dimension as {{ dimension }},
    split.gl_account,
    split.gl_account_name,
    split.amount,
    split.source
from split
left join companies
    on companies.company_id = split.company_id
{% endmacro %}
