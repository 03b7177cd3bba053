{{ config(
    materialized=slice_materialization(),
    incremental_strategy='delete+insert',
    unique_key=['company_id', 'year'],
    indexes=[{'columns': ['company_id', 'year']}],
) }}
{#- Built only when every wage component is mapped: the completeness test on this parent must pass. -#}
-- depends_on: {{ ref('unmapped_wage_components') }}
{%- set slice = company_year_slice() %}

with lines as (
    select * from {{ ref('int_payroll_lines_mapped_to_gl') }}
    {% if slice is not none and is_incremental() -%}
    where company_id = {{ slice.company_id }} and year = {{ slice.year }}
    {%- endif %}
)

select
    company_id,
    employee_id,
    year,
    period,
    period_label,
    period_type,
    period_end_date,
    calendar_year,
    calendar_month,
    wage_component_code,
    wage_component_description,
    mapping_scope,
    is_hidden,
    statement,
    gl_account,
    gl_account_name,
    sign,
    amount::numeric(18, 2) as amount,
    signed_amount::numeric(18, 2) as signed_amount,
    run_id,
    source,
    coverage,
    coverage = 'rest_only' as is_rest_only
from lines
