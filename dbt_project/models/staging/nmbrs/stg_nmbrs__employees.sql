with source as (
    select * from {{ source('nmbrs', 'employees') }}
),

renamed as (
    select
        company_id::integer as company_id,
        employee_id::integer as employee_id,
        employee_number::text as employee_number,
        display_name::text as display_name,
        first_name::text as first_name,
        initials::text as initials,
        prefix::text as name_prefix,
        last_name::text as last_name,
        start_period::integer as start_period,
        start_year::integer as start_year,
        soap_employee_id::integer as soap_employee_id,
        rest_employee_id::text as rest_employee_id
    from source
)

select * from renamed
