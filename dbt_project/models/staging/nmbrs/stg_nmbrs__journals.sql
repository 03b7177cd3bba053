{#- Nmbrs's journal lines per run and variant; signed_amount is debit positive, credit negative. -#}
with source as (
    select * from {{ source('nmbrs', 'journals') }}
),

renamed as (
    select
        company_id::integer as company_id,
        company_number::text as company_number,
        year::integer as year,
        run_id::text as run_id,
        run_number::integer as run_number,
        variant::text as variant,
        journal_year::integer as journal_year,
        journal_period::integer as journal_period,
        journal_date::date as journal_date,
        line_id::text as line_id,
        trim(gl_account::text) as gl_account,
        nullif(trim(dimension::text), '') as dimension,
        nullif(trim(cost_unit::text), '') as cost_unit,
        lower(side::text) as side,
        description::text as description,
        amount::numeric(18, 2) as amount,
        (case when lower(side::text) = 'debit' then amount else -amount end)::numeric(18, 2) as signed_amount
    from source
)

select * from renamed
