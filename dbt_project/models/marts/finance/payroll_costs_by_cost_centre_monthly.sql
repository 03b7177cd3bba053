{#- Company costs per month by cost centre: from Nmbrs's cost-centre journal, or where none, from
    the employees' cost-centre history (macro costs_by_dimension). -#}
-- depends_on: {{ ref('unmapped_wage_components') }}
{{ costs_by_dimension('journalscostcenter', 'cost_centre', 'cost_centre') }}
