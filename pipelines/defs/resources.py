"""Resources shared by every domain folder: the PostgreSQL warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import PrivateAttr

from pipelines.lib import warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse database. The URL comes from PAYROLL_DATABASE_URL (an EnvVar: never shown in the UI)."""

    database_url: str
    _schema_ready: bool = PrivateAttr(default=False)

    @contextmanager
    def connect(self) -> Iterator:
        """A psycopg2 connection on which the raw schema exists; closed on exit."""
        conn = warehouse.connect(self.database_url)
        try:
            if not self._schema_ready:
                warehouse.ensure_raw_schema(conn)
                self._schema_ready = True
            yield conn
        finally:
            conn.close()


warehouse_resource = WarehouseResource(database_url=dg.EnvVar("PAYROLL_DATABASE_URL"))


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"warehouse": warehouse_resource})
