"""The Nmbrs API as a Dagster resource: one session (SOAP and/or REST client) per run.

Settings are read from the NMBRS_* variables when a run starts, never at import time, so the code
location loads without any of them, and no secret ever appears in resource config or the UI.
"""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from pipelines.defs.nmbrs.source import NmbrsSession
from pipelines.defs.resources import WarehouseResource, warehouse_resource
from pipelines.lib.nmbrs.config import NmbrsSettings


class NmbrsResource(dg.ConfigurableResource):
    """The source mode and credentials come from NMBRS_* (see docs/design.md).

    Opens the Nmbrs clients lazily on first use in a run and closes them when the run ends.
    """

    warehouse: WarehouseResource
    _session: NmbrsSession | None = PrivateAttr(default=None)

    def session(self) -> NmbrsSession:
        if self._session is None:
            self._session = NmbrsSession(NmbrsSettings.from_env(), self.warehouse.database_url)
        return self._session

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"nmbrs": NmbrsResource(warehouse=warehouse_resource)})
