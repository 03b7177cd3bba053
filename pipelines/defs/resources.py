"""Resources shared by every domain folder: the PostgreSQL warehouse.

Every asset, check and sensor that reads or writes the warehouse takes this resource; none of them
reads the database URL itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from psycopg2 import sql
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

    def fetch_all(self, statement: str | sql.Composable, params: tuple | dict = ()) -> list[tuple]:
        """The rows of one read-only statement (on marts or raw tables), on a short-lived connection."""
        return warehouse.fetch_all(self.database_url, statement, params)


warehouse_resource = WarehouseResource(database_url=dg.EnvVar("PAYROLL_DATABASE_URL"))


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"warehouse": warehouse_resource})
