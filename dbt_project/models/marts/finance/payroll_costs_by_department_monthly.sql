{#- Company costs per month by department: from Nmbrs's department journal, or where none, from the
    employees' department history (macro costs_by_dimension). -#}
-- depends_on: {{ ref('unmapped_wage_components') }}
{{ costs_by_dimension('journalsdepartment', 'department', 'department') }}
