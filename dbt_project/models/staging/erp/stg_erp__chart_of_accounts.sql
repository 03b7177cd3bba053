with source as (
    select * from {{ source('erp', 'chart_of_accounts') }}
),

renamed as (
    select
        trim(account::text) as gl_account,
        name::text as gl_account_name,
        upper(trim(statement::text)) as statement
    from source
)

select * from renamed
