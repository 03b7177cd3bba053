"""The Dagster definitions, one folder per domain (nmbrs, erp, dbt, automation), loaded by
pipelines/definitions.py with `load_from_defs_folder`.

Folder rule: assets, checks, sensors, schedules, jobs and resources. Names shared with the rest of
the product (asset keys, groups, jobs, source labels) live in `defs/keys.py`. Nothing here reads the
environment: the warehouse and Nmbrs reach every asset, check and sensor as resources, and settings
come from `lib/` (tests/foundation/test_layout.py holds the rule). `defs/` builds on `lib/` and never
imports `app/`, `commands/` or the sandbox.
"""
