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
),

loads as (
    select company_id, max(loaded_at) as payroll_loaded_at
    from {{ ref('stg_nmbrs__wage_components') }}
    group by company_id
)

select
    companies.company_id,
    companies.company_number,
    companies.company_name,
    companies.period_type,
    companies.kvk_number,
    entities.erp_entity,
    coalesce(coverage.is_rest_only, false) as is_rest_only,
    loads.payroll_loaded_at
from companies
left join entities
    on entities.company_id = companies.company_id
left join coverage
    on coverage.company_id = companies.company_id
left join loads
    on loads.company_id = companies.company_id
