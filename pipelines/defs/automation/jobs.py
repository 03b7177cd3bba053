"""The jobs the sensors, the schedules, `payroll sync` and `payroll demo` launch.

`nmbrs_company_year_sync` loads one company-year partition of the Nmbrs payroll assets and builds
everything downstream of them in the same run (dbt staging to marts, incremental on that slice).
Dagster runs the unpartitioned dbt assets of such a job once per run, with the run's partition tags,
which the dbt assets pass to dbt as PAYROLL_SLICE_COMPANY_ID and PAYROLL_SLICE_YEAR.
"""

from __future__ import annotations

import dagster as dg

from pipelines.defs import keys
from pipelines.defs.nmbrs.partitions import company_year

nmbrs_company_year_sync = dg.define_asset_job(
    name=keys.COMPANY_YEAR_JOB,
    selection=dg.AssetSelection.assets(*keys.COMPANY_YEAR_ASSETS).downstream(),
    partitions_def=company_year,
    description="Load one company-year of Nmbrs payroll data and rebuild the marts for that slice.",
)

nmbrs_company_year_load = dg.define_asset_job(
    name=keys.COMPANY_YEAR_LOAD_JOB,
    selection=dg.AssetSelection.assets(*keys.COMPANY_YEAR_ASSETS),
    partitions_def=company_year,
    description=(
        "Load one company-year of Nmbrs payroll data into the raw tables (`payroll sync` and `payroll "
        "demo` run it per company-year, then one `payroll_reconciliation_rebuild`)."
    ),
)

nmbrs_reference_refresh = dg.define_asset_job(
    name=keys.REFERENCE_JOB,
    selection=dg.AssetSelection.assets(*keys.REFERENCE_ASSETS),
    description="Refresh the Nmbrs environment, companies and employees.",
)

payroll_reconciliation_rebuild = dg.define_asset_job(
    name=keys.REBUILD_JOB,
    selection=dg.AssetSelection.assets(*keys.ERP_ASSETS) | dg.AssetSelection.kind("dbt"),
    description="Reload the ERP files and run a full dbt build: every mart and the GL reconciliation.",
)
