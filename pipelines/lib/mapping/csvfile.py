"""Strict CSV reading for files analysts edit: UTF-8 without BOM, comma-separated, no stray spaces.

Every problem is a `Problem` naming the file, the line and the column, so that an analyst (or a CI
log) can go straight to the cell to fix.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BOM = b"\xef\xbb\xbf"

# Problem kinds, in the order the report shows them.

# Problem kinds, in the order the report shows them.
FORMAT = "format"
DUPLICATE_KEY = "duplicate_key"
UNKNOWN_STATEMENT = "unknown_statement"
INCOMPLETE = "incomplete"
UNKNOWN_ACCOUNT = "unknown_account"
STATEMENT_MISMATCH = "statement_mismatch"
UNMAPPED = "unmapped"
NO_ENTITY = "no_entity"
KIND_TITLES = {
    FORMAT: "File format",
    DUPLICATE_KEY: "Duplicate keys",
    UNKNOWN_STATEMENT: "Unknown statements",
    INCOMPLETE: "Rows to fill in",
    UNKNOWN_ACCOUNT: "Accounts not in the ERP chart",
    STATEMENT_MISMATCH: "Statements contradicting the account",
    UNMAPPED: "Unmapped wage components",
    NO_ENTITY: "Companies without an ERP entity",
}


class MappingFileError(ValueError):
    """A mapping file cannot be used at all (unreadable, wrong format). The message lists every problem."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Problem:
    kind: str
    message: str
    file: str | None = None
    line: int | None = None
    column: str | None = None
    column_number: int | None = None

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            number = f"{self.column_number} " if self.column_number is not None else ""
            where.append(f"column {number}({self.column})")
        return f"{', '.join(where)}: {self.message}" if where else self.message


@dataclass(frozen=True)
class CsvTable:
    """A CSV file's header and records, each record with its physical line number."""

    file: str
    header: tuple[str, ...]
    records: list[tuple[int, list[str]]]


def display_path(path: Path) -> str:
    """The path as the user would type it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def read_csv_table(path: Path, expected: Sequence[str]) -> tuple[CsvTable | None, list[Problem]]:
    """Read a comma-separated UTF-8 file strictly. Returns no table when its layout is unusable."""
    name = display_path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Problem(FORMAT, f"cannot read the file ({exc.strerror}); check the path", name)]
    problems: list[Problem] = []
    if raw.startswith(BOM):
        problems.append(
            Problem(
                FORMAT,
                "the file starts with a byte order mark (BOM); save it as UTF-8 without BOM "
                "(in Excel: 'CSV (Comma delimited)', or strip the first three bytes)",
                name,
                1,
                expected[0],
                1,
            )
        )
        raw = raw[len(BOM) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [
            *problems,
            Problem(FORMAT, f"byte 0x{raw[exc.start]:02X} is not UTF-8; save the file as UTF-8", name, line),
        ]
    if "\x00" in text:
        at = text.index("\x00")
        line = text.count("\n", 0, at) + 1
        column = at - (text.rfind("\n", 0, at) + 1) + 1
        return None, [
            *problems,
            Problem(
                FORMAT,
                f"a NUL byte (0x00) at character {column} of the line; delete it (a file saved as UTF-16 is "
                "full of them: save it as UTF-8)",
                name,
                line,
            ),
        ]
    if not text.strip():
        return None, [
            *problems,
            Problem(FORMAT, f"the file is empty; it needs the header {','.join(expected)}", name, 1),
        ]
    first_line = text.splitlines()[0]
    if ";" in first_line and "," not in first_line:
        return None, [
            *problems,
            Problem(
                FORMAT,
                "the file uses ';' as delimiter; save it comma-separated "
                "(in Excel: 'CSV (Comma delimited)', or set the list separator to ',')",
                name,
                1,
            ),
        ]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        return None, [
            *problems,
            Problem(FORMAT, f"not a valid CSV record ({exc}); check the quotes", name, reader.line_num),
        ]
    (_, header), records = rows[0], rows[1:]
    stripped = tuple(column.strip() for column in header)
    problems.extend(
        Problem(
            FORMAT,
            f"header {column!r} has leading or trailing spaces; remove them",
            name,
            1,
            column.strip(),
            number,
        )
        for number, column in enumerate(header, start=1)
        if column != column.strip()
    )
    layout = _header_problems(name, stripped, expected)
    if layout:
        return None, [*problems, *layout]
    return CsvTable(name, stripped, records), problems


def _header_problems(name: str, stripped: Sequence[str], expected: Sequence[str]) -> list[Problem]:
    """Unknown, repeated or missing columns: the file cannot be read by column name."""
    problems = []
    for number, column in enumerate(stripped, start=1):
        if column not in expected:
            problems.append(
                Problem(
                    FORMAT,
                    f"unknown column {column!r}; the columns are {', '.join(expected)}",
                    name,
                    1,
                    column,
                    number,
                )
            )
    for column, count in Counter(stripped).items():
        if count > 1 and column in expected:
            problems.append(Problem(FORMAT, f"column {column!r} appears {count} times", name, 1, column))
    missing = [c for c in expected if c not in stripped]
    if missing:
        problems.append(
            Problem(
                FORMAT,
                f"missing column(s) {', '.join(missing)}; the header must be {','.join(expected)}",
                name,
                1,
            )
        )
    return problems


def record_cells(
    table: CsvTable, line: int, record: list[str]
) -> tuple[dict[str, str] | None, list[Problem]]:
    """Map a record to its columns, reporting a wrong field count and spaces around values."""
    if record == []:
        return None, [Problem(FORMAT, "empty line; delete it", table.file, line)]
    if len(record) != len(table.header):
        hint = " (it looks ';'-separated: use ',')" if len(record) == 1 and ";" in record[0] else ""
        return None, [
            Problem(
                FORMAT,
                f"{len(record)} field(s) where the header has {len(table.header)}{hint}; "
                "quote values that contain a comma",
                table.file,
                line,
            )
        ]
    problems = []
    cells = {}
    for number, (column, value) in enumerate(zip(table.header, record, strict=True), start=1):
        if value != value.strip():
            problems.append(
                Problem(
                    FORMAT,
                    f"value {value!r} has leading or trailing spaces; remove them",
                    table.file,
                    line,
                    column,
                    number,
                )
            )
        cells[column] = value.strip()
    return cells, problems


def cell_problem(table: CsvTable, line: int, column: str, kind: str, message: str) -> Problem:
    return Problem(kind, message, table.file, line, column, table.header.index(column) + 1)
