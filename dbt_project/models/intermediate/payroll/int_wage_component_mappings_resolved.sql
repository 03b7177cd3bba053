{#- The mapping each company actually uses: its own rows for a wage component replace all general
    (blank company_id) rows of that component; other components use the general rows. -#}
with mapping as (
    select * from {{ ref('wage_component_gl_mapping') }}
),

companies as (
    select company_id from {{ ref('stg_nmbrs__companies') }}
    union
    select distinct company_id from {{ ref('stg_nmbrs__wage_components') }}
),

company_rows as (
    select
        mapping.company_id,
        mapping.wage_component_code,
        mapping.description as mapping_description,
        mapping.statement,
        mapping.gl_account,
        mapping.hidden as is_hidden,
        mapping.sign,
        'company' as mapping_scope
    from mapping
    where mapping.company_id is not null
),

general_rows as (
    select
        companies.company_id,
        mapping.wage_component_code,
        mapping.description as mapping_description,
        mapping.statement,
        mapping.gl_account,
        mapping.hidden as is_hidden,
        mapping.sign,
        'general' as mapping_scope
    from companies
    cross join mapping
    where mapping.company_id is null
        and not exists (
            select 1
            from mapping as company_mapping
            where company_mapping.company_id = companies.company_id
                and company_mapping.wage_component_code = mapping.wage_component_code
        )
)

select * from company_rows
union all
select * from general_rows
