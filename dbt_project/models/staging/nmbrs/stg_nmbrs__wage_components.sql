with source as (
    select * from {{ source('nmbrs', 'wage_components') }}
),

renamed as (
    select
        company_id::integer as company_id,
        year::integer as year,
        period::integer as period,
        employee_id::integer as employee_id,
        trim(code::text) as wage_component_code,
        description::text as wage_component_description,
        value::numeric(18, 2) as amount,
        source::text as component_source,
        _dagster_run_id::text as loaded_by_run_id,
        _loaded_at::timestamptz as loaded_at
    from source
)

select * from renamed
