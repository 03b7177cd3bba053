{#- The company-year slice a run rebuilds: vars company_id and year, both or neither; without
    them, the environment variables PAYROLL_SLICE_COMPANY_ID and PAYROLL_SLICE_YEAR (what the Dagster
    dbt step passes). dbt parses in full whenever --vars change, but after a change of an environment
    variable it re-parses only the files that read it (the sliced models), so a sensor's slice run
    keeps the partial parse of the last full build. -#}
{% macro company_year_slice() %}
    {%- set company_id = var('company_id', none) -%}
    {%- set year = var('year', none) -%}
    {%- if company_id is none and year is none -%}
        {%- set company_id = env_var('PAYROLL_SLICE_COMPANY_ID', '') | trim or none -%}
        {%- set year = env_var('PAYROLL_SLICE_YEAR', '') | trim or none -%}
    {%- endif -%}
    {%- if company_id is none and year is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if company_id is none or year is none
            or not (company_id | string).isdigit() or not (year | string).isdigit() -%}
        {{ exceptions.raise_compiler_error(
            "Incremental slice: pass both vars as whole numbers, e.g. --vars '{\"company_id\": 101, \"year\": 2025}' "
            ~ "(or PAYROLL_SLICE_COMPANY_ID and PAYROLL_SLICE_YEAR), or neither for a full rebuild; got company_id=" ~ company_id ~ ", year=" ~ year) }}
    {%- endif -%}
    {{ return({'company_id': company_id | int, 'year': year | int}) }}
{% endmacro %}

{#- Marts are incremental (delete + insert of the slice) only when a slice is given, else rebuilt in full. -#}
{% macro slice_materialization() %}
    {{ return('incremental' if company_year_slice() is not none else 'table') }}
{% endmacro %}

{#- For marts keyed by calendar year (company_id, year = calendar year) that read fct_payroll_lines:
    in a slice run, the `and ...` condition that keeps the calendar years the company's payroll year
    touches (a four-weekly period 13 can end in the next January); nothing in a full build. -#}
{% macro calendar_years_of_slice_condition() %}
    {%- set slice = company_year_slice() -%}
    {%- if slice is not none and is_incremental() -%}
        and company_id = {{ slice.company_id }}
        and calendar_year in (
            select calendar_year from {{ ref('fct_payroll_lines') }}
            where company_id = {{ slice.company_id }} and year = {{ slice.year }}
            union select {{ slice.year }}
        )
    {%- endif -%}
{% endmacro %}
