{#- Completeness: every wage component in the Nmbrs data has a mapping row or is hidden. Applied to
    the unmapped_wage_components mart; its failing rows name company, code and description, and its
    failure stops fct_payroll_lines and every mart built on it. -#}
{% test wage_components_are_all_mapped(model) %}
select company_id, wage_component_code, wage_component_description, first_year, first_period
from {{ model }}
{% endtest %}
