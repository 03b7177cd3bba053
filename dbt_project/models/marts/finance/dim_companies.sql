with companies as (
    select * from {{ ref('stg_nmbrs__companies') }}
),

entities as (
    select * from {{ ref('company_entity_mapping') }}
),

coverage as (
    select company_id, bool_or(coverage = 'rest_only') as is_rest_only
    from {{ ref('stg_nmbrs__source_coverage') }}
    group by company_id
)

select
    companies.company_id,
    companies.company_number,
    companies.company_name,
    companies.period_type,
    companies.kvk_number,
    entities.erp_entity,
    coalesce(coverage.is_rest_only, false) as is_rest_only
from companies
left join entities
    on entities.company_id = companies.company_id
left join coverage
    on coverage.company_id = companies.company_id
