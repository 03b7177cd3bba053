{#- Every wage component per company: how the data names it and how the mapping treats it. -#}
with lines as (
    select
        company_id,
        wage_component_code,
        max(wage_component_description) as wage_component_description,
        min(year * 100 + period) as first_year_period,
        max(year * 100 + period) as last_year_period,
        bool_and(component_source like 'rest%') as is_rest_only
    from {{ ref('stg_nmbrs__wage_components') }}
    group by company_id, wage_component_code
),

mappings as (
    select
        company_id,
        wage_component_code,
        bool_and(is_hidden) as is_hidden,
        string_agg(statement || ' ' || gl_account, ', ' order by statement desc, gl_account) as gl_accounts,
        max(mapping_scope) as mapping_scope
    from {{ ref('int_wage_component_mappings_resolved') }}
    group by company_id, wage_component_code
)

select
    lines.company_id,
    lines.wage_component_code,
    lines.wage_component_description,
    case
        when mappings.wage_component_code is null then 'unmapped'
        when mappings.is_hidden then 'hidden'
        else 'mapped'
    end as mapping_status,
    mappings.gl_accounts,
    mappings.mapping_scope,
    lines.first_year_period / 100 as first_year,
    lines.first_year_period % 100 as first_period,
    lines.last_year_period / 100 as last_year,
    lines.last_year_period % 100 as last_period,
    lines.is_rest_only
from lines
left join mappings
    on mappings.company_id = lines.company_id
    and mappings.wage_component_code = lines.wage_component_code
