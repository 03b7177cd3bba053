{#- Employees without BSN, birth date or private contact data (those never leave nmbrs_restricted). -#}
select
    company_id,
    employee_id,
    employee_number,
    display_name,
    first_name,
    initials,
    name_prefix,
    last_name,
    start_period,
    start_year
from {{ ref('stg_nmbrs__employees') }}
