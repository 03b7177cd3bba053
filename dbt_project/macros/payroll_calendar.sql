{#- docs: see models/intermediate/payroll/_payroll__docs.md (period_to_month). -#}

{#- Monday of ISO week 1 of a year: the Monday on or before 4 January. -#}
{% macro iso_week1_monday(year) -%}
    (make_date({{ year }}, 1, 4) - (extract(isodow from make_date({{ year }}, 1, 4))::int - 1))
{%- endmacro %}

{#- Last day of a payroll period, by the company's period type (Nmbrs LoonaangifteTijdvak).
    Month: period p is calendar month p. Week4: period p starts on the Monday of ISO week 4(p-1)+1
    and lasts 28 days; period 13 ends on the Sunday of the ISO year's last week. Other period types
    (and out-of-range periods) give null, which the not_null test on int_payroll_periods reports. -#}
{% macro period_end_date(period_type, year, period) -%}
    case
        when {{ period_type }} = 'Month' and {{ period }} between 1 and 12
            then (make_date({{ year }}, {{ period }}, 1) + interval '1 month' - interval '1 day')::date
        when {{ period_type }} = 'Week4' and {{ period }} between 1 and 12
            then {{ iso_week1_monday(year) }} + (28 * {{ period }} - 1)
        when {{ period_type }} = 'Week4' and {{ period }} = 13
            then {{ iso_week1_monday(year ~ ' + 1') }} - 1
    end
{%- endmacro %}

{#- How a payroll period is named wherever a period (not a calendar month) is meant: a monthly period
    is its month (`2026-11`); a four-weekly one is `2026 P12 (4-wk)`; any other period type
    `2026 P02 (Month6)`. Period numbers are two digits, so labels sort in period order. -#}
{% macro period_label(period_type, year, period) -%}
    case
        when {{ period_type }} = 'Month'
            then {{ year }}::text || '-' || lpad({{ period }}::text, 2, '0')
        when {{ period_type }} = 'Week4'
            then {{ year }}::text || ' P' || lpad({{ period }}::text, 2, '0') || ' (4-wk)'
        else {{ year }}::text || ' P' || lpad({{ period }}::text, 2, '0')
            || ' (' || coalesce({{ period_type }}, 'unknown period type') || ')'
    end
{%- endmacro %}

{#- First day of a payroll period: the first of the month for Month; for Week4 the Monday of ISO week
    4(p-1)+1 (period 13 starts 28 × 12 days after week 1's Monday and runs to the ISO year's end). -#}
{% macro period_start_date(period_type, year, period) -%}
    case
        when {{ period_type }} = 'Month' and {{ period }} between 1 and 12
            then make_date({{ year }}, {{ period }}, 1)
        when {{ period_type }} = 'Week4' and {{ period }} between 1 and 13
            then {{ iso_week1_monday(year) }} + 28 * ({{ period }} - 1)
    end
{%- endmacro %}

{#- The var four_weekly_allocation, checked (docs block four_weekly_allocation): `period_end`
    (default) books a whole period in the month holding its end date; `days` spreads it over the
    calendar days it covers, split to the cent by largest remainder. -#}
{% macro four_weekly_allocation() %}
    {%- set allocation = var('four_weekly_allocation', 'period_end') | string | trim | lower -%}
    {%- if allocation not in ('period_end', 'days') -%}
        {{ exceptions.raise_compiler_error(
            "var four_weekly_allocation is '" ~ allocation ~ "'; use period_end (a whole period in the month of "
            ~ "its end date) or days (spread over its calendar days, exact to the cent)") }}
    {%- endif -%}
    {{ return(allocation) }}
{% endmacro %}
