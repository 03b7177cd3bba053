with source as (
    select * from {{ source('nmbrs', 'payroll_runs') }}
),

renamed as (
    select
        company_id::integer as company_id,
        year::integer as year,
        run_id::text as run_id,
        run_number::integer as run_number,
        period_start::integer as period_start,
        period_end::integer as period_end,
        description::text as run_description,
        run_at::timestamp as run_at,
        is_locked::boolean as is_locked,
        run_type::text as run_type,
        soap_run_id::text as soap_run_id,
        rest_run_id::text as rest_run_id,
        _source::text as api_source
    from source
)

select * from renamed
