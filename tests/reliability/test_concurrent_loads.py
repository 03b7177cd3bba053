"""Scenario 7, the loader's half: two loads of the same partition at once never double it.

Two sensors (or a sensor and a `payroll sync`) may load the same company-year at the same moment.
Each load is DELETE + COPY in one transaction; without serialisation the second DELETE, blocked by
the first, finds nothing left to delete once the first commits, and both COPYs stay: every row
twice. The loader takes a per-partition lock, so the second load waits and then replaces the first.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import psycopg2
import pytest

from pipelines.lib import warehouse
from tests.support.pipeline import record_figure

pytestmark = pytest.mark.reliability

TABLE = "nmbrs.wage_components"
PARTITION = {"company_id": 101, "year": 2025}
COLUMNS = ("company_id", "year", "period", "employee_id", "code", "description", "value", "source")


def rows(count: int, marker: str) -> list[tuple]:
    return [
        (101, 2025, 1 + i % 12, i, "1000", marker, Decimal("1234.56"), "soap_period_report")
        for i in range(count)
    ]


@pytest.fixture
def warehouse_url(make_database):
    url = make_database("payroll_race")
    conn = warehouse.connect(url)
    warehouse.ensure_raw_schema(conn)
    warehouse.replace_partition(conn, TABLE, PARTITION, COLUMNS, rows(500, "old"), source="soap")
    conn.close()
    return url


def test_two_loads_of_one_partition_at_once_leave_it_loaded_once(warehouse_url):
    first_copying = threading.Event()
    release_first = threading.Event()
    errors: list[BaseException] = []

    def first_rows():
        first_copying.set()  # the DELETE ran; the COPY is open
        yield from rows(250, "first")
        release_first.wait(30)
        yield from rows(750, "first")[250:]

    def load(generator_or_rows, marker):
        conn = warehouse.connect(warehouse_url)
        try:
            warehouse.replace_partition(conn, TABLE, PARTITION, COLUMNS, generator_or_rows, source="soap")
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            conn.close()

    first = threading.Thread(target=load, args=(first_rows(), "first"))
    first.start()
    assert first_copying.wait(30)
    second = threading.Thread(target=load, args=(rows(600, "second"), "second"))
    second.start()
    time.sleep(1.0)  # the second load is now waiting for the first
    waited = time.monotonic()
    release_first.set()
    first.join(60)
    second.join(60)
    waited = time.monotonic() - waited
    assert errors == []

    conn = psycopg2.connect(warehouse_url)
    with conn.cursor() as cur:
        cur.execute("select description, count(*) from nmbrs.wage_components group by description")
        content = dict(cur.fetchall())
    conn.close()
    assert content == {"second": 600}, f"partition after two concurrent loads: {content}"
    record_figure(
        "7_concurrent_loads_one_partition",
        rows_expected=600,
        rows_found=sum(content.values()),
        second_load_waited_seconds=round(waited, 2),
    )
