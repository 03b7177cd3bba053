"""The analysts' mapping files (mappings/): read them strictly, check them against the ERP chart
and the synced data, and append the wage components that have no row yet.

- `csvfile`: strict CSV reading; every problem names the file, the line and the column.
- `files`: the two mapping files as typed rows.
- `sources`: what the mapping is checked against (the warehouse, or the ERP chart file).
- `checks`: the checks and their report (`payroll mapping check`).
- `suggest`: append-only completion of the mapping file (`payroll mapping suggest`).
"""
