"""`payroll export` on the synced demo: files read back with pandas, openpyxl and pyarrow agree with
the marts to the cent, carry every label, and open as typed spreadsheets; the excel-nl CSV reads
back the way Dutch Excel reads it."""

from __future__ import annotations

import csv
import datetime as dt
import re
import zipfile
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
WORKBOOK = "payroll_export.xlsx"
SHEETS = {
    "payroll_data_table": "Data table",
    "payroll_company_costs_monthly": "Company costs",
    "payroll_balance_sheet_postings_monthly": "Balance sheet postings",
    "payroll_gl_reconciliation": "Reconciliation",
    "payroll_reconciliation_work_list": "Work list",
    "payroll_three_way_reconciliation": "Three-way",
}
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


def read_back(out: Path, table: str, file_format: str) -> list[dict]:
    """Rows of an exported table as dicts, amounts as Decimal, read with the usual tools."""
    if file_format == "csv":
        frame = pd.read_csv(out / f"{table}.csv", dtype=str, keep_default_na=False)
    elif file_format == "xlsx":
        frame = pd.read_excel(out / WORKBOOK, sheet_name=SHEETS[table], engine="openpyxl", dtype=object)
    else:
        frame = pd.read_parquet(out / f"{table}.parquet")
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
    assert ("sheet Data table" if request.param == "xlsx" else "payroll_data_table") in result.output
    return request.param, out


def test_data_table_totals_equal_the_marts_to_the_cent(exported, query):
    file_format, out = exported
    rows = read_back(out, "payroll_data_table", file_format)
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
    rows = read_back(out, "payroll_data_table", file_format)
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


@pytest.mark.parametrize(
    ("statement", "mart"),
    [("PL", "payroll_company_costs_monthly"), ("BS", "payroll_balance_sheet_postings_monthly")],
)
def test_pivot_by_account_equals_the_monthly_postings_marts(exported, query, statement, mart):
    """What an analyst's pivot (company × month × account) of one statement gives is its mart:
    'Company costs' for the P&L, the balance-sheet postings for BS."""
    file_format, out = exported
    pivot: dict[tuple, Decimal] = defaultdict(Decimal)
    for row in read_back(out, "payroll_data_table", file_format):
        if row["statement"] == statement:
            pivot[(row["company_id"], row["year"], row["month"], str(row["gl_account"]))] += row["amount"]
    expected = {
        (company, year, month, account): amount
        for company, year, month, account, amount in query(
            f"select company_id, year, month, gl_account, amount from marts.{mart}"  # noqa: S608 - fixed names
        )
    }
    assert expected and dict(pivot) == expected
    postings = read_back(out, mart, file_format)
    assert {
        (r["company_id"], r["year"], r["month"], str(r["gl_account"])): r["amount"] for r in postings
    } == expected
    assert {r["statement"] for r in postings} == {statement}


def test_data_table_is_the_pivot_mart(exported, query):
    file_format, out = exported
    rows = read_back(out, "payroll_data_table", file_format)
    (mart_rows,) = query("select count(*) from marts.payroll_data_table")[0]
    assert len(rows) == mart_rows
    labels = {(r["company_id"], r["year"], r["month"]): r["payroll_periods"] for r in rows}
    (first_year,) = query("select min(year) from marts.payroll_data_table where company_id = 102")[0]
    assert labels[(102, first_year, 11)] == f"{first_year} P11 (4-wk), {first_year} P12 (4-wk)"
    assert labels[(101, first_year, 11)] == f"{first_year}-11"


def test_reconciliation_equals_the_mart(exported, query):
    file_format, out = exported
    rows = read_back(out, "payroll_gl_reconciliation", file_format)
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


def test_three_way_sheet_equals_the_mart_differences_first(exported, query):
    file_format, out = exported
    name = "payroll_three_way_reconciliation"
    if file_format == "csv":
        frame = pd.read_csv(out / f"{name}.csv", dtype=str, keep_default_na=False)
    elif file_format == "xlsx":
        frame = pd.read_excel(out / WORKBOOK, sheet_name=SHEETS[name], engine="openpyxl", dtype=object)
    else:
        frame = pd.read_parquet(out / f"{name}.parquet")
    rows = frame.to_dict(orient="records")
    got = {
        (r["erp_entity"], int(r["year"]), int(r["month"]), str(r["gl_account"])): (
            _decimal(r["payroll_amount"]),
            _decimal(r["journal_amount"]),
            _decimal(r["erp_amount"]),
            r["status"],
        )
        for r in rows
    }
    mart = {
        (entity, year, month, account): (payroll, journal, erp, status)
        for entity, year, month, account, payroll, journal, erp, status in query(
            "select erp_entity, year, month, gl_account, payroll_amount, journal_amount, erp_amount, status "
            "from marts.payroll_three_way_reconciliation"
        )
    }
    assert got == mart and len(rows) == len(mart)
    statuses = [r["status"] for r in rows]
    open_rows = len(statuses) - statuses.count("matched")
    assert open_rows == 5 and "matched" not in statuses[:open_rows]  # the differences come first
    assert set(statuses[:open_rows]) == {
        "mapping_differs_from_nmbrs",
        "erp_differs_from_journal",
        "missing_in_erp",
        "missing_in_payroll",
    }


def test_chart_is_a_png(exported):
    _, out = exported
    png = (out / "payroll_company_costs.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_csv_amounts_are_plain_decimals(demo_warehouse_url, tmp_path):
    assert run_export("--format", "csv", "--out", str(tmp_path)).exit_code == 0
    frame = pd.read_csv(tmp_path / "payroll_data_table.csv", dtype=str)
    assert frame["amount"].str.fullmatch(r"-?\d+\.\d{2}").all()
    assert not (tmp_path / "payroll_data_table.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_xlsx_is_one_workbook_of_typed_excel_tables(demo_warehouse_url, tmp_path):
    assert run_export("--format", "xlsx", "--out", str(tmp_path)).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["payroll_company_costs.png", WORKBOOK]
    workbook = openpyxl.load_workbook(tmp_path / WORKBOOK)
    assert workbook.sheetnames == [
        "Summary",
        "Work list",
        "Data table",
        "Company costs",
        "Balance sheet postings",
        "Reconciliation",
        "Three-way",
    ]
    for worksheet in workbook:
        (table,) = worksheet.tables.values()
        first, last = table.ref.split(":")
        header_row = int(re.sub(r"\D", "", first))
        assert worksheet.freeze_panes == f"A{header_row + 1}"
        assert all(cell.font.bold for cell in worksheet[header_row] if cell.value is not None)
        assert table.autoFilter.ref == table.ref
        assert (
            last
            == f"{openpyxl.utils.get_column_letter(worksheet.max_column)}{max(worksheet.max_row, header_row + 1)}"
        )
    sheet = workbook["Data table"]
    header = [cell.value for cell in sheet[1]]
    assert header[: len(GRAIN) - 3] == ["company_id", "company_name", "erp_entity"]
    assert (
        sheet.tables["payroll_data_table"].ref
        == f"A1:{openpyxl.utils.get_column_letter(len(header))}{sheet.max_row}"
    )
    row = {name: cell for name, cell in zip(header, sheet[2], strict=True)}
    assert row["amount"].data_type == "n" and row["amount"].number_format == "#,##0.00"
    assert row["company_id"].data_type == "n" and isinstance(row["company_id"].value, int)
    assert row["month_start"].is_date and row["month_start"].number_format == "yyyy-mm-dd"
    assert row["company_name"].data_type == "s"
    assert row["gl_account"].data_type == "s" and row["gl_account"].value.isdigit()  # a code stays text
    widths = {
        sheet.column_dimensions[openpyxl.utils.get_column_letter(i)].width for i in range(1, len(header) + 1)
    }
    assert min(widths) >= len("year") and max(widths) <= 60


def test_xlsx_codes_stored_as_text_carry_no_excel_warning(demo_warehouse_url, tmp_path):
    """Excel flags "number stored as text" unless the sheet lists the range under ignoredErrors."""
    assert run_export("--format", "xlsx", "--out", str(tmp_path)).exit_code == 0
    workbook = openpyxl.load_workbook(tmp_path / WORKBOOK)
    with zipfile.ZipFile(tmp_path / WORKBOOK) as archive:
        for number, worksheet in enumerate(workbook, start=1):
            xml = archive.read(f"xl/worksheets/sheet{number}.xml").decode()
            (ignored,) = re.findall(r'<ignoredError sqref="([^"]+)" numberStoredAsText="1"/>', xml)
            assert xml.index("<ignoredErrors>") < xml.index("<tableParts")  # the schema's order
            (table,) = worksheet.tables.values()
            first_row = int(re.sub(r"\D", "", table.ref.split(":")[0])) + 1
            last_row = int(re.sub(r"\D", "", table.ref.split(":")[1]))
            header = [cell.value for cell in worksheet[first_row - 1]]
            for position, name in enumerate(header, start=1):
                letter = openpyxl.utils.get_column_letter(position)
                values = [worksheet.cell(r, position).value for r in range(first_row, last_row + 1)]
                is_text = any(isinstance(v, str) for v in values)
                assert (f"{letter}{first_row}:{letter}{last_row}" in ignored.split()) == is_text, (
                    worksheet.title,
                    name,
                )


def test_xlsx_summary_and_work_list(demo_warehouse_url, query, tmp_path):
    result = run_export("--format", "xlsx", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    workbook = openpyxl.load_workbook(tmp_path / WORKBOOK)
    (loaded_at,) = query("select max(payroll_loaded_at) from marts.dim_companies")[0]
    as_of = loaded_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    summary = workbook["Summary"]
    assert summary["A2"].value.startswith(f"As of {as_of}")
    assert f"chart of company costs (P&L), as of {as_of}" in result.output
    per_company = pd.read_excel(tmp_path / WORKBOOK, sheet_name="Summary", header=4, dtype=object)
    costs = dict(query("select company_id, sum(amount) from marts.payroll_company_costs_monthly group by 1"))
    balance = dict(
        query("select company_id, sum(amount) from marts.payroll_balance_sheet_postings_monthly group by 1")
    )
    open_rows = dict(
        query(
            "select company_id, count(*) from marts.payroll_gl_reconciliation where status <> 'matched' group by 1"
        )
    )
    assert list(per_company["company_id"]) == sorted(costs)
    for record in per_company.to_dict(orient="records"):
        company = record["company_id"]
        assert _decimal(record["company_costs"]) == costs[company] > 0
        assert _decimal(record["balance_sheet_postings"]) == balance[company]
        assert record["open_differences"] == open_rows.get(company, 0)
    work_list = read_back(tmp_path, "payroll_reconciliation_work_list", "xlsx")
    expected = query(
        "select company_id, year, month, gl_account, difference, status from marts.payroll_gl_reconciliation "
        "where status <> 'matched'"
    )
    assert sorted(
        (r["company_id"], r["year"], r["month"], str(r["gl_account"]), r["difference"], r["status"])
        for r in work_list
    ) == sorted(expected)
    differences = [abs(r["difference"]) for r in work_list]
    assert differences == sorted(differences, reverse=True) and len(differences) == 3


def _dutch_excel_value(text: str, column_type: str):
    """A cell as Dutch Excel reads it: a decimal comma (a point would be a thousands separator)."""
    if text == "":
        return None
    if column_type == "numeric":
        assert re.fullmatch(r"-?\d+,\d{2}", text), text
        return Decimal(text.replace(",", "."))
    if column_type == "integer":
        return int(text)
    if column_type == "date":
        return dt.date.fromisoformat(text)
    if column_type == "boolean":
        return {"true": True, "false": False}[text]
    return text


def test_excel_nl_csv_reads_back_as_dutch_excel_reads_it(demo_warehouse_url, query, tmp_path):
    result = run_export("--format", "csv", "--csv-dialect", "excel-nl", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    for table in ("payroll_data_table", "payroll_company_costs_monthly", "payroll_gl_reconciliation"):
        raw = (tmp_path / f"{table}.csv").read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # the BOM makes Excel read UTF-8
        reader = csv.reader(raw[3:].decode("utf-8").splitlines(), delimiter=";", quotechar='"')
        header, *lines = list(reader)
        types = dict(
            query(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'marts' and table_name = %s",
                (table,),
            )
        )
        types.setdefault("period_type", "text")  # the reconciliation export adds it from dim_companies
        got = Counter(
            tuple(_dutch_excel_value(value, types[name]) for name, value in zip(header, line, strict=True))
            for line in lines
        )
        columns = ", ".join(("c." if name == "period_type" else "t.") + name for name in header)
        expected = Counter(
            query(
                f"select {columns} from marts.{table} as t"  # noqa: S608 - names from our own header
                " left join marts.dim_companies as c on c.company_id = t.company_id"
            )
        )
        assert got == expected, table
        assert sum(got.values()) > 100
    names = {line for line in (tmp_path / "payroll_data_table.csv").read_text("utf-8-sig").splitlines()}
    assert any(';"Studio O\'Brien; Design";' in line for line in names)  # quoted: it holds the separator


def test_csv_dialect_is_for_csv_only(demo_warehouse_url, tmp_path):
    result = run_export("--format", "xlsx", "--csv-dialect", "excel-nl", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "--csv-dialect excel-nl applies to --format csv only" in result.output


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
    rows = read_back(tmp_path, "payroll_data_table", "csv")
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
