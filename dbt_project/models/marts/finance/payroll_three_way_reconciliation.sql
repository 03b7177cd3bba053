{#- Payroll (mapped by our CSV), Nmbrs's journal and the ERP per ERP entity × booking month × GL
    account; the month follows var booking_basis. status names the side that disagrees (docs block
    three_way_status). Always rebuilt in full. -#}
-- depends_on: {{ ref('unmapped_wage_components') }}
{%- set tolerance = var('reconciliation_tolerance') %}

with companies as (
    select * from {{ ref('dim_companies') }}
    where erp_entity is not null
),

postings as (
    select postings.*, companies.erp_entity, companies.company_name
    from {{ ref('int_reconciliation_line_postings') }} as postings
    inner join companies
        on companies.company_id = postings.company_id
    where postings.is_in_payroll
),

journal_lines as (
    select journal.*, companies.erp_entity, companies.company_name
    from {{ ref('int_nmbrs_journal_lines_booked') }} as journal
    inner join companies
        on companies.company_id = journal.company_id
),

payroll as (
    select
        erp_entity,
        booking_year as year,
        booking_month as month,
        gl_account,
        sum(payroll_amount) as payroll_amount
    from postings
    group by 1, 2, 3, 4
),

journal as (
    select
        erp_entity,
        booking_year as year,
        booking_month as month,
        gl_account,
        sum(signed_amount) as journal_amount
    from journal_lines
    group by 1, 2, 3, 4
),

journal_months as (
    select distinct erp_entity, year, month from journal
),

entity_months as (
    select
        erp_entity,
        min(year * 12 + month - 1) as first_month_index,
        max(year * 12 + month - 1) as last_month_index
    from (select erp_entity, year, month from payroll union select erp_entity, year, month from journal) as months
    group by erp_entity
),

scope as (
    select distinct companies.erp_entity, mappings.gl_account
    from {{ ref('int_wage_component_mappings_resolved') }} as mappings
    inner join companies
        on companies.company_id = mappings.company_id
    where not mappings.is_hidden
    union
    select distinct erp_entity, gl_account from journal
),

erp as (
    select
        movements.erp_entity,
        movements.year,
        movements.month,
        movements.gl_account,
        sum(movements.amount) as erp_amount
    from {{ ref('stg_erp__gl_movements') }} as movements
    inner join scope
        on scope.erp_entity = movements.erp_entity
        and scope.gl_account = movements.gl_account
    inner join entity_months
        on entity_months.erp_entity = movements.erp_entity
        and movements.year * 12 + movements.month - 1
            between entity_months.first_month_index and entity_months.last_month_index
    group by 1, 2, 3, 4
),

keys as (
    select erp_entity, year, month, gl_account from payroll
    union
    select erp_entity, year, month, gl_account from journal
    union
    select erp_entity, year, month, gl_account from erp
),

company_breakdown as (
    select
        erp_entity,
        booking_year as year,
        booking_month as month,
        gl_account,
        string_agg(distinct company_id::text, ', ' order by company_id::text) as company_ids
    from (
        select erp_entity, booking_year, booking_month, gl_account, company_id from postings
        union
        select erp_entity, booking_year, booking_month, gl_account, company_id from journal_lines
    ) as seen
    group by 1, 2, 3, 4
),

joined as (
    select
        keys.*,
        payroll.payroll_amount,
        journal.journal_amount,
        erp.erp_amount,
        journal_months.erp_entity is not null as journal_loaded
    from keys
    left join payroll
        on payroll.erp_entity = keys.erp_entity and payroll.year = keys.year
        and payroll.month = keys.month and payroll.gl_account = keys.gl_account
    left join journal
        on journal.erp_entity = keys.erp_entity and journal.year = keys.year
        and journal.month = keys.month and journal.gl_account = keys.gl_account
    left join erp
        on erp.erp_entity = keys.erp_entity and erp.year = keys.year
        and erp.month = keys.month and erp.gl_account = keys.gl_account
    left join journal_months
        on journal_months.erp_entity = keys.erp_entity and journal_months.year = keys.year
        and journal_months.month = keys.month
),

judged as (
    select
        joined.*,
        case when journal_loaded then coalesce(journal_amount, 0) else coalesce(payroll_amount, 0) end
            as reference_amount,
        case
            when journal_loaded
                and abs(coalesce(payroll_amount, 0) - coalesce(journal_amount, 0)) > {{ tolerance }}
                then 'mapping_differs_from_nmbrs'
            when payroll_amount is null and journal_amount is null then 'missing_in_payroll'
            when erp_amount is null then 'missing_in_erp'
            when abs(
                erp_amount
                - case when journal_loaded then coalesce(journal_amount, 0) else coalesce(payroll_amount, 0) end
            ) > {{ tolerance }} then 'erp_differs_from_journal'
            else 'matched'
        end as status
    from joined
)

select
    judged.erp_entity,
    judged.year,
    judged.month,
    make_date(judged.year, judged.month, 1) as month_start,
    chart.statement,
    judged.gl_account,
    chart.gl_account_name,
    company_breakdown.company_ids,
    coalesce(judged.payroll_amount, 0)::numeric(18, 2) as payroll_amount,
    coalesce(judged.journal_amount, 0)::numeric(18, 2) as journal_amount,
    coalesce(judged.erp_amount, 0)::numeric(18, 2) as erp_amount,
    (coalesce(judged.payroll_amount, 0) - coalesce(judged.journal_amount, 0))::numeric(18, 2)
        as mapping_difference,
    (coalesce(judged.erp_amount, 0) - judged.reference_amount)::numeric(18, 2) as erp_difference,
    (case
        when judged.status = 'mapping_differs_from_nmbrs'
            then coalesce(judged.payroll_amount, 0) - coalesce(judged.journal_amount, 0)
        else coalesce(judged.erp_amount, 0) - judged.reference_amount
    end)::numeric(18, 2) as difference,
    judged.journal_loaded,
    judged.status,
    '{{ booking_basis() }}'::text as booking_basis
from judged
left join company_breakdown
    on company_breakdown.erp_entity = judged.erp_entity and company_breakdown.year = judged.year
    and company_breakdown.month = judged.month and company_breakdown.gl_account = judged.gl_account
left join {{ ref('stg_erp__chart_of_accounts') }} as chart
    on chart.gl_account = judged.gl_account
