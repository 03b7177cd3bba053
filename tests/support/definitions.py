"""The code location's definitions and resources, for tests that materialize assets in process."""

from __future__ import annotations

import dagster as dg


def definitions() -> dg.Definitions:
    from pipelines.definitions import defs

    return defs()


def resources() -> dict[str, object]:
    """Every resource the definitions bind (warehouse, nmbrs, dbt), resolved when a run starts."""
    return dict(definitions().resources)
