{{ config(
    materialized=monthly_postings_materialization(),
    incremental_strategy='delete+insert',
    unique_key=['company_id', 'year'],
    indexes=[{'columns': ['company_id', 'year']}],
) }}
{#- "Company costs": the P&L side of the payroll per company, calendar month and GL account. The
    balance-sheet side (taxes and net pay owed) is payroll_balance_sheet_postings_monthly. -#}
{{ monthly_postings('PL') }}
