{{ config(
    materialized=monthly_postings_materialization(),
    incremental_strategy='delete+insert',
    unique_key=['company_id', 'year'],
    indexes=[{'columns': ['company_id', 'year']}],
) }}
{#- The balance-sheet side of the payroll (wage tax, social security and net pay owed, ...) per
    company, calendar month and GL account; with payroll_company_costs_monthly (P&L) it sums to
    every visible payroll line. -#}
{{ monthly_postings('BS') }}
