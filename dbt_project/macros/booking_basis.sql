{#- docs: models/intermediate/payroll/_payroll__docs.md (booking_basis).
    The var booking_basis, checked: `period` (default) books a line in the month of the period it
    pays; `run` in the month of the payroll run that booked it (its run_at), as Nmbrs's journal is
    booked, so a December correction of March lands in December. -#}
{% macro booking_basis() %}
    {%- set basis = var('booking_basis', 'period') | string | trim | lower -%}
    {%- if basis not in ('period', 'run') -%}
        {{ exceptions.raise_compiler_error(
            "var booking_basis is '" ~ basis ~ "'; use period (the month of the period a line pays) or run "
            ~ "(the month of the payroll run that booked it), e.g. --vars '{\"booking_basis\": \"run\"}'") }}
    {%- endif -%}
    {{ return(basis) }}
{% endmacro %}
