{#- Every booked wage-component line (int_payroll_component_lines_booked) posted twice per GL
    account: as our mapping posts it (mappings/wage_component_gl_mapping.csv, payroll_amount) and as
    Nmbrs's ledger set-up books it (int_nmbrs_component_accounts, journal_amount). One row per line ×
    account; where both agree the amounts are equal, where they differ the line explains the
    difference to the cent. Hidden components (totals) post nowhere. -#}
with lines as (
    select * from {{ ref('int_payroll_component_lines_booked') }}
),

mappings as (
    select * from {{ ref('int_wage_component_mappings_resolved') }}
    where not is_hidden
),

nmbrs as (
    select * from {{ ref('int_nmbrs_component_accounts') }}
),

postings as (
    select
        lines.*,
        mappings.gl_account,
        lines.amount * mappings.sign as payroll_amount,
        0::numeric as journal_amount,
        true as is_in_payroll,
        false as is_in_journal
    from lines
    inner join mappings
        on mappings.company_id = lines.company_id
        and mappings.wage_component_code = lines.wage_component_code
    union all
    select
        lines.*,
        nmbrs.gl_account,
        0::numeric as payroll_amount,
        lines.amount * nmbrs.nmbrs_sign as journal_amount,
        false as is_in_payroll,
        true as is_in_journal
    from lines
    inner join nmbrs
        on nmbrs.company_id = lines.company_id
        and nmbrs.year = lines.year
        and nmbrs.period = lines.period
        and nmbrs.wage_component_code = lines.wage_component_code
)

select
    company_id,
    employee_id,
    year,
    period,
    period_label,
    run_id,
    run_number,
    wage_component_code,
    wage_component_description,
    booking_year,
    booking_month,
    booking_basis,
    gl_account,
    sum(payroll_amount)::numeric(18, 2) as payroll_amount,
    sum(journal_amount)::numeric(18, 2) as journal_amount,
    bool_or(is_in_payroll) as is_in_payroll,
    bool_or(is_in_journal) as is_in_journal
from postings
group by
    company_id, employee_id, year, period, period_label, run_id, run_number, wage_component_code,
    wage_component_description, booking_year, booking_month, booking_basis, gl_account
