"""The jobs the sensors and schedules launch.

`nmbrs_company_year_sync` loads one company-year partition of the Nmbrs payroll assets and builds
everything downstream of them in the same run (dbt staging to marts, incremental on that slice).
Dagster runs the unpartitioned dbt assets of such a job once per run, with the run's partition tags,
which the dbt assets turn into `--vars`.
"""

from __future__ import annotations

import dagster as dg

from pipelines.defs.nmbrs.partitions import company_year

COMPANY_YEAR_ASSETS = (
    dg.AssetKey(["nmbrs", "payroll_runs"]),
    dg.AssetKey(["nmbrs", "wage_components"]),
    dg.AssetKey(["nmbrs", "payslips"]),
    dg.AssetKey(["nmbrs", "source_coverage"]),
)
REFERENCE_ASSETS = (
    dg.AssetKey(["nmbrs", "environment"]),
    dg.AssetKey(["nmbrs", "companies"]),
    dg.AssetKey(["nmbrs", "employees"]),
)
ERP_ASSETS = (
    dg.AssetKey(["erp", "chart_of_accounts"]),
    dg.AssetKey(["erp", "gl_movements"]),
)

company_year_selection = dg.AssetSelection.assets(*COMPANY_YEAR_ASSETS).downstream()

nmbrs_company_year_sync = dg.define_asset_job(
    name="nmbrs_company_year_sync",
    selection=company_year_selection,
    partitions_def=company_year,
    description="Load one company-year of Nmbrs payroll data and rebuild the marts for that slice.",
)

nmbrs_reference_refresh = dg.define_asset_job(
    name="nmbrs_reference_refresh",
    selection=dg.AssetSelection.assets(*REFERENCE_ASSETS),
    description="Refresh the Nmbrs environment, companies and employees.",
)

payroll_reconciliation_rebuild = dg.define_asset_job(
    name="payroll_reconciliation_rebuild",
    selection=dg.AssetSelection.assets(*ERP_ASSETS) | dg.AssetSelection.kind("dbt"),
    description="Reload the ERP files and run a full dbt build: every mart and the GL reconciliation.",
)
