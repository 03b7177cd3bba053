{#- Company costs per month by department, from Nmbrs's department journal (macro costs_by_dimension). -#}
-- depends_on: {{ ref('unmapped_wage_components') }}
{{ costs_by_dimension('journalsdepartment', 'department') }}
