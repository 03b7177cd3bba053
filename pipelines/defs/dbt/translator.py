"""How dbt nodes become Dagster assets: keys, groups, owners and check descriptions.

Column schemas (`dagster/column_schema`) come from dagster-dbt's default metadata: the `columns` of
each model's YAML, with their `data_type` and `description`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtProject

LAYER_GROUPS = ("staging", "intermediate", "marts")


class PayrollDbtTranslator(DagsterDbtTranslator):
    """Sources keep `<source>/<table>` (= the Python raw assets' keys, e.g. nmbrs/wage_components);
    models and seeds are keyed by their name. Models are grouped by layer, seeds as `mappings`."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey([dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        resource_type = dbt_resource_props["resource_type"]
        if resource_type == "seed":
            return "mappings"
        if resource_type in ("model", "snapshot"):
            layer = dbt_resource_props["fqn"][1]
            return layer if layer in LAYER_GROUPS else "dbt"
        return None

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str] | None:
        if dbt_resource_props["resource_type"] == "seed":
            return ["team:payroll-analysts"]
        return ["team:data-engineering"]

    def get_asset_check_spec(
        self,
        asset_spec: dg.AssetSpec,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: DbtProject | None,
    ) -> dg.AssetCheckSpec | None:
        """dagster-dbt reads a check's description from the test's `meta` only; ours are written as
        the data test's own `description:` (dbt 1.9+), so take that one."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return dg.AssetCheckSpec(
            name=spec.name,
            asset=spec.asset_key,
            description=manifest["nodes"][unique_id].get("description") or None,
            additional_deps=spec.additional_deps,
            metadata=spec.metadata,
            blocking=spec.blocking,
            automation_condition=spec.automation_condition,
            partitions_def=spec.partitions_def,
        )
