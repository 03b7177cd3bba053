{#- Wage components in the Nmbrs data that have no mapping row (not even a hidden one) for their
    company. The test wage_components_are_all_mapped fails while this has rows, and stops the marts. -#}
with lines as (
    select * from {{ ref('stg_nmbrs__wage_components') }}
),

mappings as (
    select * from {{ ref('int_wage_component_mappings_resolved') }}
),

companies as (
    select * from {{ ref('stg_nmbrs__companies') }}
),

unmapped_lines as (
    select lines.*
    from lines
    where not exists (
        select 1
        from mappings
        where mappings.company_id = lines.company_id
            and mappings.wage_component_code = lines.wage_component_code
    )
)

select
    unmapped_lines.company_id,
    companies.company_name,
    unmapped_lines.wage_component_code,
    max(unmapped_lines.wage_component_description) as wage_component_description,
    min(unmapped_lines.year) as first_year,
    (array_agg(unmapped_lines.period order by unmapped_lines.year, unmapped_lines.period))[1] as first_period,
    count(*)::integer as line_count,
    sum(unmapped_lines.amount)::numeric(18, 2) as total_amount
from unmapped_lines
left join companies
    on companies.company_id = unmapped_lines.company_id
group by unmapped_lines.company_id, companies.company_name, unmapped_lines.wage_component_code
