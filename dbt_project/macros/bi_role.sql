{#- The read-only BI role (var bi_role, default payroll_bi). Created if missing on every run; the marts
    grant it SELECT through the `grants` config, and this hook lets it into the marts schema only.
    Staging, intermediate, raw (nmbrs, nmbrs_restricted, erp) and payroll_private stay closed to it. -#}
{% macro ensure_bi_role() %}
    {%- do check_configured_identifiers() -%}
    {%- set role = var('bi_role') -%}
    do $$
    begin
        if not exists (select from pg_catalog.pg_roles where rolname = '{{ role }}') then
            create role {{ adapter.quote(role) }} nologin;
        end if;
    exception
        when duplicate_object then null;
        when insufficient_privilege then
            raise exception 'cannot create the BI role "{{ role }}": the dbt user % lacks CREATEROLE. '
                'Ask an administrator to run: create role {{ role }} nologin;', current_user;
    end
    $$;
{% endmacro %}

{% macro grant_marts_schema_usage() %}
    {%- set role = var('bi_role') -%}
    do $$
    begin
        if exists (select from pg_catalog.pg_namespace where nspname = 'marts') then
            grant usage on schema marts to {{ adapter.quote(role) }};
        end if;
    end
    $$;
{% endmacro %}
