{#- The employee × wage component lines behind every difference of payroll_three_way_reconciliation.
    mapping_differs_from_nmbrs: the lines our mapping posts differently from Nmbrs's journal on the
    account (Σ difference = the row's mapping_difference, to the cent); erp_differs_from_journal and
    missing_in_erp: every line on the account (Σ journal_amount = what the ERP should hold);
    missing_in_payroll has no payroll lines to show. Always rebuilt in full. -#}
with differences as (
    select * from {{ ref('payroll_three_way_reconciliation') }}
    where status <> 'matched'
),

companies as (
    select * from {{ ref('dim_companies') }}
    where erp_entity is not null
),

postings as (
    select postings.*, companies.erp_entity, companies.company_name
    from {{ ref('int_reconciliation_line_postings') }} as postings
    inner join companies
        on companies.company_id = postings.company_id
),

mapped_accounts as (
    select company_id, wage_component_code, string_agg(distinct gl_account, ', ' order by gl_account) as accounts
    from {{ ref('int_wage_component_mappings_resolved') }}
    where not is_hidden
    group by 1, 2
),

nmbrs_accounts as (
    select
        company_id,
        year,
        period,
        wage_component_code,
        string_agg(distinct gl_account, ', ' order by gl_account) as accounts
    from {{ ref('int_nmbrs_component_accounts') }}
    group by 1, 2, 3, 4
)

select
    differences.erp_entity,
    differences.year,
    differences.month,
    differences.gl_account,
    differences.gl_account_name,
    differences.status,
    postings.company_id,
    postings.company_name,
    postings.employee_id,
    postings.year as payroll_year,
    postings.period,
    postings.period_label,
    postings.run_number,
    postings.wage_component_code,
    postings.wage_component_description,
    mapped_accounts.accounts as mapped_gl_accounts,
    nmbrs_accounts.accounts as nmbrs_gl_accounts,
    postings.payroll_amount,
    postings.journal_amount,
    (postings.payroll_amount - postings.journal_amount)::numeric(18, 2) as difference,
    differences.booking_basis
from differences
inner join postings
    on postings.erp_entity = differences.erp_entity
    and postings.booking_year = differences.year
    and postings.booking_month = differences.month
    and postings.gl_account = differences.gl_account
left join mapped_accounts
    on mapped_accounts.company_id = postings.company_id
    and mapped_accounts.wage_component_code = postings.wage_component_code
left join nmbrs_accounts
    on nmbrs_accounts.company_id = postings.company_id
    and nmbrs_accounts.year = postings.year
    and nmbrs_accounts.period = postings.period
    and nmbrs_accounts.wage_component_code = postings.wage_component_code
where case
    when differences.status = 'mapping_differs_from_nmbrs'
        then postings.payroll_amount <> postings.journal_amount
    else postings.payroll_amount <> 0 or postings.journal_amount <> 0
end
