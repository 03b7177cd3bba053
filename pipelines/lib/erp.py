"""The ERP import: read and validate the chart of accounts and GL movements CSV files.

Files (in PAYROLL_ERP_DIR; the demo and syncs against the local sandbox point it at the sandbox's files):
- `chart_of_accounts.csv`: account, name, statement (PL | BS);
- `gl_movements.csv`: entity, account, year, month, amount (debit positive, a dot as decimal separator).

Every problem raises ErpFileError naming the file, line and column, and the fix. A file is read and
checked completely before anything is written, so a bad file never replaces good rows.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TypeVar

CHART_FILE = "chart_of_accounts.csv"
MOVEMENTS_FILE = "gl_movements.csv"
CHART_COLUMNS = ("account", "name", "statement")
MOVEMENT_COLUMNS = ("entity", "account", "year", "month", "amount")
STATEMENTS = ("PL", "BS")
T = TypeVar("T")


class ErpFileError(ValueError):
    """An ERP file is missing or has a bad header or row; the message names file, line, column and fix."""


@dataclass(frozen=True)
class Account:
    account: str
    name: str
    statement: str


@dataclass(frozen=True)
class Movement:
    entity: str
    account: str
    year: int
    month: int
    amount: Decimal


ERP_DIR_VARIABLE = "PAYROLL_ERP_DIR"
NO_ERP_WARNING = (
    f"{ERP_DIR_VARIABLE} is not set, so no ERP files are loaded: the reconciliation shows every payroll "
    f"account as missing_in_erp. Fix: set {ERP_DIR_VARIABLE} to the folder holding {CHART_FILE} and "
    f"{MOVEMENTS_FILE}, or point the dbt vars erp_* at your ERP tables"
)


def erp_dir_setting() -> str:
    """PAYROLL_ERP_DIR as set ('' when unset)."""
    return os.environ.get(ERP_DIR_VARIABLE, "").strip()


def erp_dir() -> Path | None:
    """The folder PAYROLL_ERP_DIR names, or None when it is unset: no ERP files, the import loads
    empty tables and warns (NO_ERP_WARNING)."""
    configured = erp_dir_setting()
    if not configured:
        return None
    path = Path(configured).expanduser()
    if not path.is_dir():
        raise ErpFileError(
            f"{ERP_DIR_VARIABLE}={configured!r} is not a folder. Fix: point it at the folder holding "
            f"{CHART_FILE} and {MOVEMENTS_FILE}, or unset it"
        )
    return path


def read_chart_of_accounts(path: Path) -> list[Account]:
    accounts: list[Account] = []
    first_line: dict[str, int] = {}
    for line, row in _rows(path, CHART_COLUMNS):
        cell = _Cell(path, line)
        account = cell.text(row, "account")
        if account in first_line:
            raise cell.error(
                "account",
                f"account {account!r} is listed twice (first on line {first_line[account]})",
                "keep one row per account",
            )
        first_line[account] = line
        statement = cell.text(row, "statement").upper()
        if statement not in STATEMENTS:
            raise cell.error(
                "statement",
                f"statement {row['statement']!r} is not PL or BS",
                "use PL for profit and loss accounts, BS for balance sheet accounts",
            )
        accounts.append(Account(account, row["name"].strip(), statement))
    return accounts


def read_gl_movements(path: Path) -> list[Movement]:
    movements: list[Movement] = []
    for line, row in _rows(path, MOVEMENT_COLUMNS):
        cell = _Cell(path, line)
        year = cell.parse(row, "year", int, "a four-digit year such as 2025")
        if not 1900 <= year <= 2999:
            raise cell.error("year", f"year {year} is out of range", "use a four-digit year such as 2025")
        month = cell.parse(row, "month", int, "a month number 1 to 12")
        if not 1 <= month <= 12:
            raise cell.error("month", f"month {month} is not a month number", "use 1 to 12")
        amount = cell.parse(row, "amount", Decimal, "a number with a dot as decimal separator, e.g. -1234.56")
        if not amount.is_finite():
            raise cell.error(
                "amount", f"{row['amount']!r} is not a finite amount", "write the amount in euro"
            )
        movements.append(Movement(cell.text(row, "entity"), cell.text(row, "account"), year, month, amount))
    return movements


def _rows(path: Path, expected: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file whose header must be exactly `expected` (in any order)."""
    if not path.is_file():
        raise ErpFileError(
            f"{path}: file not found. Fix: export it from the ERP into PAYROLL_ERP_DIR with the columns "
            f"{', '.join(expected)}"
        )
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip().lower() for name in next(reader, [])]
        _check_header(path, header, expected)
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise ErpFileError(
                    f"{path.name}, line {line}: {len(row)} fields where the header has {len(header)}. "
                    "Fix: quote values that contain commas and give every row all columns"
                )
            yield line, dict(zip(header, row, strict=True))


def _check_header(path: Path, header: list[str], expected: tuple[str, ...]) -> None:
    for index, name in enumerate(header, start=1):
        if name not in expected:
            raise ErpFileError(
                f"{path.name}, line 1, column {index} ({name!r}): unknown column. "
                f"Fix: use exactly the columns {', '.join(expected)}"
            )
        if header.index(name) != index - 1:
            raise ErpFileError(
                f"{path.name}, line 1, column {index} ({name!r}): duplicate column. "
                "Fix: keep one column of each name"
            )
    missing = [name for name in expected if name not in header]
    if missing:
        raise ErpFileError(
            f"{path.name}, line 1: missing column(s) {', '.join(missing)}. "
            f"Fix: use exactly the columns {', '.join(expected)}"
        )


@dataclass(frozen=True)
class _Cell:
    path: Path
    line: int

    def error(self, column: str, problem: str, fix: str) -> ErpFileError:
        return ErpFileError(f"{self.path.name}, line {self.line}, column {column!r}: {problem}. Fix: {fix}")

    def text(self, row: dict[str, str], column: str) -> str:
        value = row[column].strip()
        if not value:
            raise self.error(column, "empty value", f"fill in the {column}")
        return value

    def parse(self, row: dict[str, str], column: str, parse: Callable[[str], T], expected: str) -> T:
        raw = self.text(row, column)
        try:
            return parse(raw)
        except (ValueError, InvalidOperation):
            raise self.error(column, f"{raw!r} is not {expected}", f"write {expected}") from None
