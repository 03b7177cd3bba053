{#- One row per company scope × wage component × statement; a hidden row must be the only row of
    its component in that scope. Lists the offending keys. -#}
{% test mapping_keys_unique(model) %}
with keyed as (
    select
        company_id,
        wage_component_code,
        coalesce(statement, '') as statement,
        hidden
    from {{ model }}
),

duplicates as (
    select company_id, wage_component_code, statement, 'duplicate row' as problem
    from keyed
    group by company_id, wage_component_code, statement
    having count(*) > 1
),

hidden_and_visible as (
    select company_id, wage_component_code, null::text as statement, 'hidden and mapped in the same scope' as problem
    from keyed
    group by company_id, wage_component_code
    having bool_or(hidden) and not bool_and(hidden)
)

select * from duplicates
union all
select * from hidden_and_visible
{% endtest %}
