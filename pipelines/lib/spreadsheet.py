"""Tables written as spreadsheet files: CSV in a dialect, XLSX workbooks of Excel Tables.

Exact and safe for spreadsheets:
- Amounts are Decimals at their column's scale: a plain decimal in CSV (a decimal comma in the
  `excel-nl` dialect), a numeric cell with a number format in XLSX. Never a float on the way.
- Text never becomes a formula. A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
  return is written with a leading single quote in CSV (OWASP, "CSV injection"); in XLSX every text
  cell is a string cell (never a formula cell, whatever it starts with), and those cells also carry
  Excel's quote prefix, so editing them keeps them text.
- XLSX sheets are Excel Tables (filter buttons, banded rows), and text columns carry Excel's
  "ignore: number stored as text" marker, so codes like GL account 4000 stay text without a warning.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
MAX_COLUMN_WIDTH = 60


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # int | text | decimal | date | bool
    scale: int | None = None  # decimals: digits after the point, uniform over the column


@dataclass(frozen=True)
class Sheet:
    """One table: a CSV file, or a sheet of a workbook (an Excel Table named `name`)."""

    name: str  # file stem, Excel Table name
    title: str  # sheet title (at most 31 characters in XLSX)
    columns: tuple[Column, ...]
    rows: list[tuple]
    preamble: tuple[str, ...] = ()  # XLSX: lines of text above the table (a title, an "as of")


@dataclass(frozen=True)
class CsvDialect:
    name: str
    delimiter: str
    decimal_separator: str
    byte_order_mark: bool
    help: str


CSV_DIALECTS = {
    dialect.name: dialect
    for dialect in (
        CsvDialect("standard", ",", ".", False, "comma separated, decimal point, UTF-8 (pandas, R, DuckDB)"),
        CsvDialect(
            "excel-nl",
            ";",
            ",",
            True,
            "as Dutch Excel opens it: semicolon separated, decimal comma, UTF-8 with a byte-order mark",
        ),
    )
}


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_TRIGGERS)


def _text(value, column: Column, decimal_separator: str = ".") -> str:
    if value is None:
        return ""
    if column.kind == "decimal":
        return format(value, "f").replace(".", decimal_separator)
    if column.kind == "date":
        return value.isoformat()
    if column.kind == "bool":
        return "true" if value else "false"
    text = str(value)
    if column.kind == "text" and is_formula_like(text):
        return "'" + text
    return text


def write_csv(sheet: Sheet, path: Path, dialect: CsvDialect = CSV_DIALECTS["standard"]) -> None:
    """Header and rows; fields holding the delimiter, a quote or a line break are quoted."""
    encoding = "utf-8-sig" if dialect.byte_order_mark else "utf-8"
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, delimiter=dialect.delimiter, quoting=csv.QUOTE_MINIMAL)
        writer.writerow([c.name for c in sheet.columns])
        for row in sheet.rows:
            writer.writerow(
                [_text(v, c, dialect.decimal_separator) for v, c in zip(row, sheet.columns, strict=True)]
            )


def _number_format(column: Column) -> str | None:
    if column.kind == "decimal":
        return "#,##0." + "0" * column.scale
    if column.kind == "int":
        return "0"
    if column.kind == "date":
        return "yyyy-mm-dd"
    return None


def write_workbook(sheets: Sequence[Sheet], path: Path) -> None:
    """One sheet per table, each an Excel Table under its preamble, with a frozen bold header."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    written = [
        (worksheet := workbook.create_sheet(sheet.title[:31]), _write_sheet(worksheet, sheet))
        for sheet in sheets
    ]
    workbook.save(path)
    # a worksheet's part name (xl/worksheets/sheetN.xml) is known once the workbook is saved
    _ignore_numbers_stored_as_text(path, {ws.path.lstrip("/"): ranges for ws, ranges in written if ranges})


def _write_sheet(worksheet, sheet: Sheet) -> str:
    """Append the sheet's cells and its Excel Table; return the ranges of its text cells."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.filters import AutoFilter
    from openpyxl.worksheet.table import Table, TableColumn, TableStyleInfo

    header_row = len(sheet.preamble) + (2 if sheet.preamble else 1)
    last_row = header_row + max(len(sheet.rows), 1)
    last_column = get_column_letter(len(sheet.columns))
    worksheet.freeze_panes = f"A{header_row + 1}"
    for position, column in enumerate(sheet.columns, start=1):
        longest = max([len(column.name), *(len(_text(row[position - 1], column)) for row in sheet.rows)])
        worksheet.column_dimensions[get_column_letter(position)].width = min(longest + 3, MAX_COLUMN_WIDTH)
    bold = Font(bold=True)
    for line_number, line in enumerate(sheet.preamble):
        worksheet.append([_string_cell(worksheet, line, bold if line_number == 0 else None)])
    if sheet.preamble:
        worksheet.append([])
    worksheet.append([_string_cell(worksheet, column.name, bold) for column in sheet.columns])
    formats = [_number_format(c) for c in sheet.columns]
    for row in sheet.rows:
        cells = []
        for value, column, number_format in zip(row, sheet.columns, formats, strict=True):
            if column.kind == "text" and value is not None:
                cells.append(_string_cell(worksheet, str(value)))
                continue
            cell = WriteOnlyCell(worksheet, value=value)
            if number_format and value is not None:
                cell.number_format = number_format
            cells.append(cell)
        worksheet.append(cells)
    ref = f"A{header_row}:{last_column}{last_row}"
    table = Table(
        displayName=sheet.name,
        ref=ref,
        autoFilter=AutoFilter(ref=ref),
        tableColumns=[TableColumn(id=i, name=c.name) for i, c in enumerate(sheet.columns, start=1)],
        tableStyleInfo=TableStyleInfo(name="TableStyleMedium2", showRowStripes=True),
    )
    with warnings.catch_warnings():  # "you must add table columns manually": they are, just above
        warnings.simplefilter("ignore", UserWarning)
        worksheet.add_table(table)
    return " ".join(
        f"{get_column_letter(i)}{header_row + 1}:{get_column_letter(i)}{last_row}"
        for i, column in enumerate(sheet.columns, start=1)
        if column.kind == "text"
    )


def _string_cell(worksheet, text: str, font=None):
    """A string cell, whatever the text starts with (openpyxl would make `=...` a formula cell)."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(worksheet, value=text)
    cell.data_type = "s"
    if is_formula_like(text):
        cell.quotePrefix = True
    if font is not None:
        cell.font = font
    return cell


_IGNORED_ERRORS_BEFORE = re.compile(rb"<(?:drawing|legacyDrawing|tableParts)\b|</worksheet>")


def _ignore_numbers_stored_as_text(path: Path, text_ranges: dict[str, str]) -> None:
    """Add `<ignoredErrors numberStoredAsText>` for the text columns to each sheet: openpyxl 3.1 has
    the element's class but never writes it. The spec (ECMA-376 CT_Worksheet) places it after the
    rows and page set-up, before drawings and tables. The ranges are plain cell references."""
    if not text_ranges:
        return
    fd, scratch = tempfile.mkstemp(prefix=".ignored-errors-", suffix=".xlsx", dir=path.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(scratch, "w", zipfile.ZIP_DEFLATED) as target:
            for item in source.infolist():
                data = source.read(item.filename)
                if item.filename in text_ranges:
                    element = (
                        f'<ignoredErrors><ignoredError sqref="{text_ranges[item.filename]}" '
                        'numberStoredAsText="1"/></ignoredErrors>'
                    ).encode()
                    anchor = _IGNORED_ERRORS_BEFORE.search(data, data.rindex(b"</sheetData>"))
                    data = data[: anchor.start()] + element + data[anchor.start() :]
                target.writestr(item, data)
        os.replace(scratch, path)
    finally:
        Path(scratch).unlink(missing_ok=True)
