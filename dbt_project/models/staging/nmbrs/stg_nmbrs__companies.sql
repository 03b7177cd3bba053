with source as (
    select * from {{ source('nmbrs', 'companies') }}
),

renamed as (
    select
        company_id::integer as company_id,
        company_number::text as company_number,
        name::text as company_name,
        period_type::text as period_type,
        kvk_number::text as kvk_number,
        soap_company_id::integer as soap_company_id,
        rest_company_id::text as rest_company_id
    from source
)

select * from renamed
