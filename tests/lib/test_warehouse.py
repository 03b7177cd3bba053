"""The warehouse loader: raw schema, COPY escaping, atomic partition replace, failures roll back."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import psycopg2
import pytest

from pipelines.lib import warehouse

# Also run on the embedded pgserver (PostgreSQL 16) by `make test-embedded`.
pytestmark = pytest.mark.embedded

COLUMNS = ("period", "employee_id", "code", "description", "value", "source")
PARTITION = {"company_id": 101, "year": 2024}


def rows(n: int, period: int = 1, start: int = 0):
    for i in range(start, start + n):
        yield (period, i, "1000", "Salaris", Decimal(i) + Decimal("0.01"), "soap_period_report")


def partition_rows(conn, company_id=101, year=2024):
    with conn.cursor() as cur:
        cur.execute(
            "select count(*), coalesce(sum(value), 0) from nmbrs.wage_components where company_id = %s and year = %s",
            (company_id, year),
        )
        result = cur.fetchone()
    conn.rollback()
    return result


def test_raw_schema_has_every_table_and_is_idempotent(wh):
    warehouse.ensure_raw_schema(wh)  # second time: no error, nothing changes
    with wh.cursor() as cur:
        cur.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in ('nmbrs', 'nmbrs_restricted', 'erp', 'payroll_private')"
        )
        tables = {row[0] for row in cur.fetchall()}
        cur.execute(
            "select indexname from pg_indexes where schemaname = 'nmbrs' and tablename = 'wage_components'"
        )
        indexes = {row[0] for row in cur.fetchall()}
    assert tables == set(warehouse.RAW_TABLES) | {"payroll_private.oauth_tokens"}
    assert "wage_components_partition_idx" in indexes


def test_concurrent_schema_creation_does_not_fail(warehouse_url):
    errors: list[BaseException] = []

    def create():
        conn = warehouse.connect(warehouse_url)
        try:
            warehouse.ensure_raw_schema(conn)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_copy_escapes_text_and_keeps_decimals_exact(wh):
    tricky = [
        (1, 1, "1000", "tab\there", Decimal("0.10"), "soap_period_report"),
        (1, 2, "1000", "new\nline and \\backslash\r", Decimal("-12345678901234.56"), "soap_period_report"),
        (
            1,
            3,
            "1000",
            "Studio O'Brien; Design\"); drop table nmbrs.companies; --",
            Decimal("1E+2"),
            "rest_fixed",
        ),
        (1, 4, "1000", None, Decimal("0.005"), "rest_variable"),
        (1, 5, "1000", "\\N", Decimal("7"), "rest_fixed"),
        (1, 6, "1000", "None", Decimal("-0.00"), "rest_fixed"),
        (1, 7, "NaN", "Infinity", Decimal("123456789012345678901234567890.123456789"), "rest_fixed"),
    ]
    loaded_at = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    count = warehouse.replace_partition(
        wh,
        "nmbrs.wage_components",
        PARTITION,
        COLUMNS,
        tricky,
        source="soap",
        run_id="run-1",
        loaded_at=loaded_at,
    )
    assert count == 7
    with wh.cursor() as cur:
        cur.execute(
            "select period, employee_id, code, description, value, source, company_id, year, _loaded_at, "
            "_dagster_run_id, _source from nmbrs.wage_components order by employee_id"
        )
        got = cur.fetchall()
    assert [row[:6] for row in got] == [(p, e, c, d, Decimal(v), s) for p, e, c, d, v, s in tricky]
    assert {row[6:] for row in got} == {(101, 2024, loaded_at, "run-1", "soap")}


def test_rerun_replaces_the_partition_without_duplicates_and_leaves_others(wh):
    other = {"company_id": 102, "year": 2024}
    warehouse.replace_partition(wh, "nmbrs.wage_components", other, COLUMNS, rows(10), source="soap")
    for _ in range(2):
        n = warehouse.replace_partition(
            wh, "nmbrs.wage_components", PARTITION, COLUMNS, rows(1000), source="soap"
        )
        assert n == 1000
        assert partition_rows(wh) == (1000, sum(Decimal(i) + Decimal("0.01") for i in range(1000)))
    assert partition_rows(wh, 102)[0] == 10
    assert (
        warehouse.replace_partition(wh, "nmbrs.wage_components", PARTITION, COLUMNS, [], source="soap") == 0
    )
    assert partition_rows(wh) == (0, 0)
    assert partition_rows(wh, 102)[0] == 10


def test_error_mid_copy_keeps_the_previous_partition(wh):
    warehouse.replace_partition(wh, "nmbrs.wage_components", PARTITION, COLUMNS, rows(500), source="soap")
    before = partition_rows(wh)

    def failing():
        yield from rows(50_000)
        raise RuntimeError("the report stream broke")

    with pytest.raises(warehouse.WarehouseLoadError) as err:
        warehouse.replace_partition(wh, "nmbrs.wage_components", PARTITION, COLUMNS, failing(), source="soap")
    message = str(err.value)
    assert "nmbrs.wage_components" in message and "company_id=101, year=2024" in message
    assert "rolled back" in message and "the report stream broke" in message
    assert partition_rows(wh) == before
    # the connection is usable again
    assert (
        warehouse.replace_partition(wh, "nmbrs.wage_components", PARTITION, COLUMNS, rows(3), source="soap")
        == 3
    )


def test_database_error_rolls_back_and_does_not_echo_row_data(wh):
    warehouse.replace_partition(wh, "nmbrs.wage_components", PARTITION, COLUMNS, rows(5), source="soap")
    bad = [*rows(100), ("not-a-period 123456782", 1, "1000", "x", Decimal(1), "soap_period_report")]
    with pytest.raises(warehouse.WarehouseLoadError) as err:
        warehouse.replace_partition(wh, "nmbrs.wage_components", PARTITION, COLUMNS, bad, source="soap")
    message = str(err.value)
    assert "123456782" not in message
    assert "line 101" in message and "period" in message
    assert partition_rows(wh)[0] == 5


@pytest.mark.parametrize("value", [0.1, Decimal("NaN"), Decimal("Infinity")])
def test_floats_and_non_finite_amounts_are_refused(wh, value):
    bad = [*rows(10), (1, 1, "1000", "x", value, "soap_period_report")]
    with pytest.raises(warehouse.WarehouseLoadError, match="floats are not loaded|non-finite amount"):
        warehouse.replace_partition(wh, "nmbrs.wage_components", PARTITION, COLUMNS, bad, source="soap")


def test_connection_dropped_mid_copy_rolls_back(warehouse_url):
    conn = warehouse.connect(warehouse_url)
    warehouse.replace_partition(conn, "nmbrs.wage_components", PARTITION, COLUMNS, rows(200), source="soap")
    before = partition_rows(conn)
    pid = conn.get_backend_pid()

    def killed_midway():
        yield from rows(20_000)
        admin = psycopg2.connect(warehouse_url)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("select pg_terminate_backend(%s)", (pid,))
        admin.close()
        yield from rows(200_000, start=20_000)

    with pytest.raises(
        warehouse.WarehouseLoadError, match=r"nmbrs\.wage_components partition \(company_id=101"
    ):
        warehouse.replace_partition(
            conn, "nmbrs.wage_components", PARTITION, COLUMNS, killed_midway(), source="soap"
        )
    conn.close()
    fresh = warehouse.connect(warehouse_url)
    assert partition_rows(fresh) == before
    fresh.close()


def test_unreachable_database_is_a_clear_error_without_the_password():
    with pytest.raises(warehouse.WarehouseUnavailable) as err:
        warehouse.connect("postgresql://loader:s3cret-pw@127.0.0.1:1/warehouse_db", connect_timeout=2)
    message = str(err.value)
    assert "warehouse_db" in message and "127.0.0.1:1" in message and "PAYROLL_DATABASE_URL" in message
    assert "s3cret-pw" not in message


def test_an_unreachable_socket_folder_is_named_as_a_folder_not_as_a_host(tmp_path):
    """Issue 14 item 6: a Unix socket folder (`?host=/dir`) is not shown as `/dir:5432`."""
    folder = tmp_path / "no-server-here"
    with pytest.raises(warehouse.WarehouseUnavailable) as err:
        warehouse.connect(f"postgresql://loader@/warehouse_db?host={folder}", connect_timeout=2)
    message = str(err.value)
    assert f"on the socket in {folder} (port 5432)" in message
    assert f"{folder}:5432" not in message


@pytest.mark.parametrize(
    "table, where, columns",
    [
        ("nmbrs.wage_components; drop table x", PARTITION, COLUMNS),
        ("wage_components", PARTITION, COLUMNS),
        ("nmbrs.wage_components", {"company_id = 1 or 1=1 --": 1}, COLUMNS),
        ("nmbrs.wage_components", PARTITION, ("period", 'value"); drop')),
    ],
)
def test_identifiers_are_validated(wh, table, where, columns):
    with pytest.raises(ValueError):
        warehouse.replace_partition(wh, table, where, columns, [], source="soap")


def test_a_load_that_repeats_the_key_is_refused_naming_it_and_keeps_the_rows(wh):
    warehouse.replace_partition(wh, "nmbrs.wage_components", PARTITION, COLUMNS, rows(3), source="soap")
    repeated = [*rows(2), next(rows(1))]  # employee 0, period 1, code 1000 twice
    with pytest.raises(warehouse.DuplicateKeyError) as raised:
        warehouse.replace_partition(wh, "nmbrs.wage_components", PARTITION, COLUMNS, repeated, source="soap")
    message = str(raised.value)
    assert "repeat the key company_id=101, year=2024, period=1, employee_id=0, code=1000" in message
    assert "the previous rows are kept" in message
    assert partition_rows(wh) == (3, Decimal("3.03"))


def test_an_existing_warehouse_gets_the_unique_keys_or_a_clear_refusal(wh):
    with wh.cursor() as cur:
        for table in warehouse.UNIQUE_KEYS:
            schema, name = table.split(".")
            cur.execute(f"drop index {schema}.{name}_unique_key")  # a warehouse made before the keys
        cur.execute(
            "insert into nmbrs.companies (company_id, name, _loaded_at, _source) values "
            "(101, 'a', now(), 'soap'), (101, 'a', now(), 'soap')"
        )
    wh.commit()
    with pytest.raises(warehouse.DuplicateRowsInWarehouse) as raised:
        warehouse.ensure_raw_schema(wh)
    assert "nmbrs.companies already holds 1 key(s) (company_id) on more than one row" in str(raised.value)
    assert "run `payroll sync --full-refresh`" in str(raised.value)
    wh.rollback()
    with wh.cursor() as cur:
        cur.execute("truncate nmbrs.companies")
    wh.commit()
    warehouse.ensure_raw_schema(wh)
    with wh.cursor() as cur:
        cur.execute("select count(*) from pg_indexes where indexname like '%\\_unique\\_key'")
        assert cur.fetchone()[0] == len(warehouse.UNIQUE_KEYS)
    wh.rollback()
