{#- The company-year slice a run rebuilds: vars company_id and year, both or neither. -#}
{% macro company_year_slice() %}
    {%- set company_id = var('company_id', none) -%}
    {%- set year = var('year', none) -%}
    {%- if company_id is none and year is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if company_id is none or year is none
            or not (company_id | string).isdigit() or not (year | string).isdigit() -%}
        {{ exceptions.raise_compiler_error(
            "Incremental slice: pass both vars as whole numbers, e.g. --vars '{\"company_id\": 101, \"year\": 2025}', "
            ~ "or neither for a full rebuild; got company_id=" ~ company_id ~ ", year=" ~ year) }}
    {%- endif -%}
    {{ return({'company_id': company_id | int, 'year': year | int}) }}
{% endmacro %}

{#- Marts are incremental (delete + insert of the slice) only when a slice is given, else rebuilt in full. -#}
{% macro slice_materialization() %}
    {{ return('incremental' if company_year_slice() is not none else 'table') }}
{% endmacro %}
