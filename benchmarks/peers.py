"""The peers: what a data engineer would otherwise write or use, each done the way its docs suggest.

- `lxml_iterparse_lines`: the plain lxml iterparse idiom (end events on `Employees`, clear as you go;
  `encoding="utf-8"` overrides the report's false utf-16 declaration).
- `load_with_to_sql`: pandas `DataFrame.to_sql(method="multi")` through SQLAlchemy + psycopg2.
- `load_with_dlt`: dlt's postgres destination, default loader or `loader_file_format="csv"`.
- `copy_csv`: a bare `COPY ... FROM STDIN (FORMAT csv)` of a prepared CSV file: the ceiling.
All keep amounts exact (Decimal in Python, numeric in PostgreSQL).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path

import psycopg2
from lxml import etree

from benchmarks.report_xml import YEAR
from pipelines.lib import settings

WAGE_COLUMNS = ("company_id", "year", "period", "employee_id", "code", "description", "value", "source")
Row = tuple[int, int, int, int, str, str, Decimal, str]


def lxml_iterparse_lines(path: Path, company_id: int = 1, year: int = YEAR) -> Iterator[Row]:
    """Rows of a period report with plain lxml iterparse, memory bounded by clearing each employee."""
    context = etree.iterparse(
        str(path),
        events=("end",),
        tag="Employees",
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        huge_tree=True,
    )
    for _, record in context:
        employee = int(record.findtext("EmployeeID"))
        for component in record.iter("WageComponents"):
            code = component.findtext("ComponentNumber")
            description = component.findtext("ComponentName")
            for cell in component.iter("Value"):
                yield (
                    company_id,
                    year,
                    int(cell.findtext("Period")),
                    employee,
                    code,
                    description,
                    Decimal(cell.findtext("ComponentValue").replace(",", ".")),
                    "soap_period_report",
                )
        record.clear()
        while record.getprevious() is not None:
            del record.getparent()[0]


def write_csv(path: Path, rows: Iterable[tuple], extra: tuple = ()) -> int:
    """The prepared CSV for the bare COPY; `extra` values are appended to every row."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        for row in rows:
            writer.writerow((*row, *extra))
            count += 1
    return count


def copy_csv(database_url: str, table: str, columns: Iterable[str], path: Path) -> None:
    """Bare COPY of a CSV file into the table, committed."""
    statement = f"copy {table} ({', '.join(columns)}) from stdin with (format csv)"
    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur, path.open("rb") as source:
            cur.copy_expert(statement, source, size=1 << 20)
    finally:
        conn.close()


def load_with_to_sql(
    database_url: str, rows: list[tuple], columns: list[str], schema: str, table: str
) -> None:
    """pandas `to_sql(method="multi")` into an existing table (append), 1,000 rows per statement."""
    import pandas as pd
    import sqlalchemy

    engine = sqlalchemy.create_engine(settings.sqlalchemy_url(database_url))
    try:
        frame = pd.DataFrame.from_records(rows, columns=columns)
        frame.to_sql(
            table, engine, schema=schema, if_exists="append", index=False, method="multi", chunksize=1000
        )
    finally:
        engine.dispose()


def _dlt_credentials(database_url: str) -> dict:
    """dlt insists on a password; a trust-auth server (as here) ignores the placeholder."""
    parts = settings.dsn_parts(database_url)
    credentials = {
        "database": parts.dbname,
        "username": parts.user,
        "password": parts.password or "unused-with-trust-auth",
        "host": parts.host,
        "port": parts.port,
    }
    if parts.host.startswith("/"):
        # A Unix socket (the embedded server): dlt renders host into the URL's authority, where a
        # path does not fit; libpq takes the socket folder from the query instead.
        credentials["host"] = "localhost"  # dlt requires a host; the query parameter below wins in libpq
        credentials["query"] = {"host": parts.host}
    return credentials


def load_with_dlt(
    database_url: str,
    rows: Iterable[tuple],
    columns: list[str],
    *,
    pipelines_dir: Path,
    dataset: str,
    loader_file_format: str | None,
) -> None:
    """dlt with its postgres destination: extract, normalize and load into `dataset.wage_components`."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")  # no usage reports from a benchmark
    import dlt

    @dlt.resource(
        name="wage_components", write_disposition="append", columns={"value": {"data_type": "decimal"}}
    )
    def wage_components() -> Iterator[dict]:
        for row in rows:
            yield dict(zip(columns, row, strict=True))

    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{dataset}",
        destination=dlt.destinations.postgres(credentials=_dlt_credentials(database_url)),
        dataset_name=dataset,
        pipelines_dir=str(pipelines_dir),
    )
    if loader_file_format:
        info = pipeline.run(wage_components(), loader_file_format=loader_file_format)
    else:
        info = pipeline.run(wage_components())
    info.raise_on_failed_jobs()
