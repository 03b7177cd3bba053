{#- Vars that name database objects (the BI role, the ERP source schema and tables) are pasted into SQL
    as identifiers, so they must be plain identifiers: checked before any hook or model runs. -#}
{% macro check_configured_identifiers() %}
    {%- for name in ['bi_role', 'erp_schema', 'erp_chart_of_accounts_table', 'erp_gl_movements_table'] -%}
        {%- set value = var(name) | string -%}
        {%- if not modules.re.fullmatch('[A-Za-z_][A-Za-z0-9_]{0,62}', value) -%}
            {{ exceptions.raise_compiler_error(
                "var " ~ name ~ " must be a plain identifier (letters, digits and underscores, not starting "
                ~ "with a digit, at most 63 characters); got " ~ (value | tojson)
                ~ ". Fix: correct it in dbt_project.yml or in --vars") }}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}
