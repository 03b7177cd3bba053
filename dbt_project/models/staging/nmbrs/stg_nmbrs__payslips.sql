with source as (
    select * from {{ source('nmbrs', 'payslips') }}
),

renamed as (
    select
        company_id::integer as company_id,
        year::integer as year,
        run_id::text as run_id,
        run_number::integer as run_number,
        period::integer as period,
        employee_id::integer as employee_id,
        trim(code::text) as wage_component_code,
        description::text as wage_component_description,
        value::numeric(18, 2) as amount
    from source
)

select * from renamed
