"""`payroll export` on the synced demo: files read back with pandas, openpyxl and pyarrow agree with
the marts to the cent, carry every label, and open as typed spreadsheets."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipelines.cli import main

CENT = Decimal("0.01")
AMOUNTS = {"nmbrs_amount", "amount", "payroll_amount", "erp_amount", "difference"}
LABELS = ("company_name", "erp_entity", "period_type", "gl_account_name", "wage_component_description")
GRAIN = ("company_id", "year", "month", "statement", "gl_account", "wage_component_code")


def run_export(*args: str):
    return CliRunner().invoke(main, ["export", *args], catch_exceptions=False)


def _decimal(value) -> Decimal:
    """A cell read back as the exact decimal that was written (floats from XLSX included)."""
    if isinstance(value, float):
        return Decimal(repr(value)).quantize(CENT)
    return Decimal(str(value))


def read_back(path: Path) -> list[dict]:
    """Rows of an exported table as dicts, amounts as Decimal, read with the usual tools."""
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    elif path.suffix == ".xlsx":
        frame = pd.read_excel(path, engine="openpyxl", dtype=object)
    else:
        frame = pd.read_parquet(path)
    rows = frame.to_dict(orient="records")
    for row in rows:
        for column in AMOUNTS & row.keys():
            row[column] = _decimal(row[column])
        for column in ("company_id", "year", "month"):
            row[column] = int(row[column])
    return rows


@pytest.fixture(scope="module", params=["csv", "xlsx", "parquet"])
def exported(request, demo_warehouse_url, tmp_path_factory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp(f"export-{request.param}")
    result = run_export("--format", request.param, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "payroll_data_table" in result.output
    return request.param, out


def test_data_table_totals_equal_the_marts_to_the_cent(exported, query):
    file_format, out = exported
    rows = read_back(out / f"payroll_data_table.{file_format}")
    totals: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in rows:
        key = (row["company_id"], row["year"], row["month"])
        totals[key][0] += row["amount"]
        totals[key][1] += row["nmbrs_amount"]
    expected = {
        (company, year, month): [signed, amount]
        for company, year, month, signed, amount in query(
            "select company_id, calendar_year, calendar_month, sum(signed_amount), sum(amount) "
            "from marts.fct_payroll_lines where not is_hidden group by 1, 2, 3"
        )
    }
    assert dict(totals) == expected
    assert sum(v[1] for v in expected.values()) > 0


def test_data_table_has_one_row_per_grain_with_every_label(exported, query):
    file_format, out = exported
    rows = read_back(out / f"payroll_data_table.{file_format}")
    keys = Counter(tuple(str(row[c]) for c in GRAIN) for row in rows)
    assert keys and max(keys.values()) == 1
    (expected_rows,) = query(
        "select count(*) from (select distinct company_id, calendar_year, calendar_month, statement, "
        "gl_account, wage_component_code from marts.fct_payroll_lines where not is_hidden) as grain"
    )[0]
    assert len(rows) == expected_rows
    for row in rows:
        assert all(str(row[label]).strip() for label in LABELS), row
    names = {row["company_id"]: row["company_name"] for row in rows}
    assert names[103] == "Studio O'Brien; Design"  # quotes and semicolons survive every format
    assert names[102] == "Fietsenmakerij Jansen & Zn."


def test_pivot_by_account_equals_company_costs_mart(exported, query):
    """What an analyst's pivot (company × month × account) gives is the 'Company costs' mart."""
    file_format, out = exported
    pivot: dict[tuple, Decimal] = defaultdict(Decimal)
    for row in read_back(out / f"payroll_data_table.{file_format}"):
        pivot[(row["company_id"], row["year"], row["month"], str(row["gl_account"]))] += row["amount"]
    mart = {
        (company, year, month, account): amount
        for company, year, month, account, amount in query(
            "select company_id, year, month, gl_account, amount from marts.payroll_company_costs_monthly"
        )
    }
    assert dict(pivot) == mart
    costs = read_back(out / f"payroll_company_costs_monthly.{file_format}")
    assert {
        (r["company_id"], r["year"], r["month"], str(r["gl_account"])): r["amount"] for r in costs
    } == mart


def test_reconciliation_equals_the_mart(exported, query):
    file_format, out = exported
    rows = read_back(out / f"payroll_gl_reconciliation.{file_format}")
    got = {
        (r["company_id"], r["year"], r["month"], str(r["gl_account"])): (
            r["payroll_amount"],
            r["erp_amount"],
            r["difference"],
            r["status"],
        )
        for r in rows
    }
    mart = {
        (company, year, month, account): (payroll, erp, difference, status)
        for company, year, month, account, payroll, erp, difference, status in query(
            "select company_id, year, month, gl_account, payroll_amount, erp_amount, difference, status "
            "from marts.payroll_gl_reconciliation"
        )
    }
    assert got == mart
    assert {status for *_, status in mart.values()} >= {"matched", "difference"}


def test_chart_is_a_png(exported):
    _, out = exported
    png = (out / "payroll_company_costs.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_csv_amounts_are_plain_decimals(demo_warehouse_url, tmp_path):
    assert run_export("--format", "csv", "--out", str(tmp_path)).exit_code == 0
    frame = pd.read_csv(tmp_path / "payroll_data_table.csv", dtype=str)
    assert frame["amount"].str.fullmatch(r"-?\d+\.\d{2}").all()
    assert not (tmp_path / "payroll_data_table.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_xlsx_is_a_typed_spreadsheet(demo_warehouse_url, tmp_path):
    assert run_export("--format", "xlsx", "--out", str(tmp_path)).exit_code == 0
    sheet = openpyxl.load_workbook(tmp_path / "payroll_data_table.xlsx").active
    header = [cell.value for cell in sheet[1]]
    assert header[: len(GRAIN) - 3] == ["company_id", "company_name", "erp_entity"]
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    last_column = openpyxl.utils.get_column_letter(len(header))
    assert sheet.auto_filter.ref == f"A1:{last_column}{sheet.max_row}"
    row = {name: cell for name, cell in zip(header, sheet[2], strict=True)}
    assert row["amount"].data_type == "n" and row["amount"].number_format == "#,##0.00"
    assert row["company_id"].data_type == "n" and isinstance(row["company_id"].value, int)
    assert row["month_start"].is_date and row["month_start"].number_format == "yyyy-mm-dd"
    assert row["company_name"].data_type == "s"
    widths = {
        sheet.column_dimensions[openpyxl.utils.get_column_letter(i)].width for i in range(1, len(header) + 1)
    }
    assert min(widths) >= len("year") and max(widths) <= 60


def test_parquet_amounts_are_decimal128(demo_warehouse_url, tmp_path):
    assert run_export("--format", "parquet", "--out", str(tmp_path)).exit_code == 0
    schema = pq.read_schema(tmp_path / "payroll_data_table.parquet")
    assert schema.field("amount").type == pa.decimal128(38, 2)
    assert schema.field("nmbrs_amount").type == pa.decimal128(38, 2)
    assert schema.field("company_id").type == pa.int64()
    assert schema.field("month_start").type == pa.date32()
    reconciliation = pq.read_schema(tmp_path / "payroll_gl_reconciliation.parquet")
    assert reconciliation.field("difference").type == pa.decimal128(38, 2)


def test_company_and_year_filters(demo_warehouse_url, query, tmp_path):
    (year,) = query("select max(calendar_year) from marts.fct_payroll_lines where company_id = 102")[0]
    result = run_export("--format", "csv", "--out", str(tmp_path), "--company", "102", "--year", str(year))
    assert result.exit_code == 0, result.output
    rows = read_back(tmp_path / "payroll_data_table.csv")
    assert {(r["company_id"], r["year"]) for r in rows} == {(102, year)}
    (expected,) = query(
        "select sum(amount) from marts.fct_payroll_lines "
        "where not is_hidden and company_id = 102 and calendar_year = %s",
        (year,),
    )[0]
    assert sum(r["nmbrs_amount"] for r in rows) == expected


def test_unknown_company_is_a_clear_error_and_keeps_previous_files(demo_warehouse_url, tmp_path):
    previous = tmp_path / "payroll_data_table.csv"
    previous.write_text("kept\n")
    result = run_export("--format", "csv", "--out", str(tmp_path), "--company", "999")
    assert result.exit_code == 1
    assert re.search(r"no payroll lines for company 999; the marts hold company 101: \d{4}", result.output)
    assert "Check --company and --year" in result.output
    assert previous.read_text() == "kept\n"
    assert [p.name for p in tmp_path.iterdir()] == ["payroll_data_table.csv"]  # no temporary folder left


def test_without_marts_says_run_sync_first(make_database, tmp_path, monkeypatch):
    monkeypatch.setenv("PAYROLL_DATABASE_URL", make_database())
    monkeypatch.delenv("PAYROLL_EMBEDDED", raising=False)
    result = run_export("--format", "xlsx", "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "the marts are not built in this warehouse yet" in result.output
    assert "run `payroll sync` first" in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
