{#- A mapped row's statement must be the statement of its GL account in the ERP chart. -#}
{% test mapping_statement_matches_chart(model) %}
with mapping as (
    select * from {{ model }}
)

select
    mapping.company_id,
    mapping.wage_component_code,
    mapping.statement as mapping_statement,
    mapping.gl_account,
    chart.statement as chart_statement
from mapping
inner join {{ ref('stg_erp__chart_of_accounts') }} as chart
    on chart.gl_account = mapping.gl_account
where not mapping.hidden
    and mapping.statement is distinct from chart.statement
{% endtest %}
