with source as (
    select * from {{ source('nmbrs', 'source_coverage') }}
),

renamed as (
    select
        company_id::integer as company_id,
        year::integer as year,
        source_mode::text as source_mode,
        wage_component_source::text as wage_component_source,
        coverage::text as coverage
    from source
)

select * from renamed
