{#- The employees' department and cost-centre histories (REST), one row per entry, on SOAP ids. -#}
with source as (
    select * from {{ source('nmbrs', 'employee_assignments') }}
),

renamed as (
    select
        company_id::integer as company_id,
        employee_id::integer as employee_id,
        lower(kind::text) as kind,
        trim(code::text) as code,
        nullif(trim(description::text), '') as description,
        valid_from_year::integer as valid_from_year,
        valid_from_period::integer as valid_from_period,
        assigned_at::timestamp as assigned_at
    from source
)

select * from renamed
