with source as (
    select * from {{ source('erp', 'gl_movements') }}
),

renamed as (
    select
        trim(entity::text) as erp_entity,
        trim(account::text) as gl_account,
        year::integer as year,
        month::integer as month,
        amount::numeric(18, 2) as amount
    from source
)

select * from renamed
