{#- Tests on history-sized relations carry `where: __company_year_slice__` (payroll year) or
    `where: __company_calendar_years_slice__` (calendar year). In a full build the placeholder is
    `true`; in a company-year slice build it limits the test to the rows that build rewrote, so a new
    payroll run costs the same however many years of history the warehouse holds. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if not where -%}
        {%- do return(relation) -%}
    {%- endif -%}
    {%- set slice = company_year_slice() -%}
    {%- if slice is none -%}
        {%- set payroll_year, calendar_years = 'true', 'true' -%}
    {%- else -%}
        {%- set payroll_year = 'company_id = ' ~ slice.company_id ~ ' and year = ' ~ slice.year -%}
        {#- A payroll year's periods end in that calendar year or (four-weekly period 13) in early January after. -#}
        {%- set calendar_years = 'company_id = ' ~ slice.company_id ~ ' and year between ' ~ slice.year
            ~ ' and ' ~ (slice.year + 1) -%}
    {%- endif -%}
    {%- set where = where | replace('__company_year_slice__', payroll_year)
        | replace('__company_calendar_years_slice__', calendar_years) -%}
    {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
{%- endmacro %}
