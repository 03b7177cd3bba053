"""How dbt nodes become Dagster assets: keys, groups and owners."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

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
