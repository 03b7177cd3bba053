"""The ERP import: read and validate the chart of accounts and GL movements CSV files.

Files (in PAYROLL_ERP_DIR, default the sandbox's demo files), the format in docs/erp-import.md:
- `chart_of_accounts.csv`: account, name, statement (PL | BS);
- `gl_movements.csv`: entity, account, year, month, amount (debit positive).

UTF-8, comma-separated, a header line with exactly these columns. Amounts follow one grammar
(`AMOUNT_GRAMMAR`): an optional sign, ASCII digits, and optionally a dot with one or two decimals;
at most 16 digits before the dot, so that every amount fits numeric(18,2).

Every problem raises ErpFileError naming the file, line and column, and the fix. The movements are
read as a stream (`iter_gl_movements`), validated row by row while the load's COPY consumes them,
so a bad row anywhere rolls the whole load back and a bad file never replaces good rows.
`ReplacementGuard` refuses a load that would empty the ERP side or remove more rows than it keeps.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

CHART_FILE = "chart_of_accounts.csv"
MOVEMENTS_FILE = "gl_movements.csv"
CHART_COLUMNS = ("account", "name", "statement")
MOVEMENT_COLUMNS = ("entity", "account", "year", "month", "amount")
STATEMENTS = ("PL", "BS")
AMOUNT_GRAMMAR = (
    "an optional sign (+ or -), the digits 0-9, and optionally a dot with 1 or 2 decimals, e.g. -1234.56"
)
MAX_INTEGER_DIGITS = 16  # numeric(18,2): 18 digits, 2 of them decimals
ALLOW_SHRINK_FIX = "run `payroll sync --allow-erp-shrink` or set PAYROLL_ERP_ALLOW_SHRINK=true"
_NUMBER = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?", re.ASCII)
_WHOLE_NUMBER = re.compile(r"[0-9]+", re.ASCII)
_CURRENCY = re.compile(r"[€$£]|\bEUR\b", re.IGNORECASE)


class ErpFileError(ValueError):
    """An ERP file is missing or has a bad header or row; the message names file, line, column and fix."""


class ErpShrinkRefused(ErpFileError):
    """A load would empty the ERP side or remove more rows than it keeps, and was not confirmed."""


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


NO_ERP_WARNING = (
    "PAYROLL_ERP_DIR is not set and Nmbrs is not the local sandbox, so no ERP files are loaded: the "
    "reconciliation shows every payroll account as missing_in_erp. Fix: set PAYROLL_ERP_DIR to the folder "
    f"holding {CHART_FILE} and {MOVEMENTS_FILE}, or point the dbt vars erp_* at your ERP tables"
)


def erp_dir() -> Path | None:
    """PAYROLL_ERP_DIR; when unset, the sandbox's demo files if Nmbrs is the sandbox, else None.

    A real Nmbrs connection never falls back to the demo ERP: fake GL movements would reconcile
    against real payroll. None means "no ERP files": the import loads empty tables and warns.
    """
    configured = os.environ.get("PAYROLL_ERP_DIR", "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not path.is_dir():
            raise ErpFileError(
                f"PAYROLL_ERP_DIR={configured!r} is not a folder. Fix: point it at the folder holding "
                f"{CHART_FILE} and {MOVEMENTS_FILE}, or unset it to use the sandbox's demo files"
            )
        return path
    if not _nmbrs_is_sandbox():
        return None
    from pipelines.sandbox.erp import ensure_demo_erp_files

    return ensure_demo_erp_files()


def _nmbrs_is_sandbox() -> bool:
    from pipelines.lib.nmbrs.config import NmbrsSettings, is_local_url

    nmbrs = NmbrsSettings.from_env()
    urls = [nmbrs.soap_url] if nmbrs.soap_configured else []
    urls += [nmbrs.rest_url, nmbrs.identity_url] if nmbrs.rest_configured else []
    return nmbrs.demo or all(is_local_url(url) for url in urls)


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
    return list(iter_gl_movements(path))


def iter_gl_movements(path: Path) -> Iterator[Movement]:
    """The movements of `path`, validated one row at a time (memory does not grow with the file)."""
    for line, row in _rows(path, MOVEMENT_COLUMNS):
        cell = _Cell(path, line)
        year = cell.parse(row, "year", _whole_number, "a four-digit year such as 2025")
        if not 1900 <= year <= 2999:
            raise cell.error("year", f"year {year} is out of range", "use a four-digit year such as 2025")
        month = cell.parse(row, "month", _whole_number, "a month number 1 to 12")
        if not 1 <= month <= 12:
            raise cell.error("month", f"month {month} is not a month number", "use 1 to 12")
        yield Movement(
            cell.text(row, "entity"), cell.text(row, "account"), year, month, cell.amount(row, "amount")
        )


def _whole_number(raw: str) -> int:
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise ValueError(raw)
    return int(raw)


def amount_problem(raw: str) -> tuple[str, str] | None:
    """None when `raw` follows the amount grammar, else (what is wrong, how to fix it)."""
    match = _NUMBER.fullmatch(raw)
    if match is None:
        if _CURRENCY.search(raw):
            return (
                f"{raw!r} holds a currency sign",
                f"write the amount in euro without a sign: {AMOUNT_GRAMMAR}",
            )
        if re.fullmatch(r"[+-]?[0-9]+,[0-9]{1,2}", raw, re.ASCII):
            return (
                f"{raw!r} is not a number with a dot as decimal separator (it has a decimal comma)",
                f"write {raw.replace(',', '.')}: {AMOUNT_GRAMMAR}",
            )
        if re.fullmatch(r"[+-]?[0-9]{1,3}(\.[0-9]{3})+,[0-9]{1,2}", raw, re.ASCII):
            return (
                f"{raw!r} is in Dutch notation (a dot between thousands, a decimal comma)",
                f"write {raw.replace('.', '').replace(',', '.')}: {AMOUNT_GRAMMAR}",
            )
        if re.fullmatch(r"[+-]?[0-9.]+[eE][+-]?[0-9]+", raw, re.ASCII):
            return f"{raw!r} is in exponent notation", f"write every digit: {AMOUNT_GRAMMAR}"
        return f"{raw!r} is not a number in the amount format", f"write {AMOUNT_GRAMMAR}"
    integer, decimals = match.group(2), match.group(3) or ""
    if len(decimals) == 3:
        return (
            f"{raw!r} has 3 decimals; amounts have at most 2 (cents), and a dot before 3 digits is often a "
            f"thousands separator ({raw} may mean {raw.replace('.', '')}), so it is not guessed",
            "export amounts with a dot as decimal separator, no thousands separators, rounded to cents",
        )
    if len(decimals) > 2:
        return (
            f"{raw!r} has {len(decimals)} decimals; amounts have at most 2 (cents)",
            "export amounts rounded to cents",
        )
    if len(integer.lstrip("0")) > MAX_INTEGER_DIGITS:
        return (
            f"{raw!r} is outside numeric(18,2): at most {MAX_INTEGER_DIGITS} digits before the dot",
            "check the amount in the ERP export; amounts are in euro with at most 2 decimals",
        )
    return None


@dataclass(frozen=True)
class ReplacementGuard:
    """Refuses replacing an ERP table by a file (or by nothing) that would empty it or remove more
    rows than it keeps, unless `allowed` (the user confirmed with --allow-erp-shrink)."""

    table: str
    source: Path | None
    allowed: bool

    def check(self, previous: int, loaded: int) -> None:
        if self.allowed:
            return
        what = self.source.name if self.source else "no ERP file (PAYROLL_ERP_DIR is not set)"
        if loaded == 0 and self.source is not None:
            problem = f"{what} has a header but no rows: loading it would leave {self.table} empty"
        elif loaded == 0 and previous > 0:
            problem = f"{what}: loading would empty {self.table}"
        elif previous - loaded > loaded:
            problem = (
                f"{what} has {loaded} rows where {self.table} holds {previous}: loading it would remove "
                f"{previous - loaded} rows, more than it keeps"
            )
        else:
            return
        raise ErpShrinkRefused(
            f"{problem}. Nothing was changed: {self.table} keeps its {previous} rows. Fix: check the ERP "
            f"export; if the smaller file is right, {ALLOW_SHRINK_FIX}"
        )


def _rows(path: Path, expected: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file whose header must be exactly `expected` (in any order)."""
    if not path.is_file():
        raise ErpFileError(
            f"{path}: file not found. Fix: export it from the ERP into PAYROLL_ERP_DIR with the columns "
            f"{', '.join(expected)}"
        )
    with path.open("rb") as handle:
        reader = csv.reader(_utf8_lines(path, handle))
        try:
            header = [name.strip().lower() for name in next(reader, [])]
            _check_header(path, header, expected)
            for row in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise ErpFileError(f"{path.name}, line {line}: {_field_count_problem(row, header)}")
                yield line, dict(zip(header, row, strict=True))
        except csv.Error as exc:
            raise ErpFileError(
                f"{path.name}, line {reader.line_num}: not a readable CSV line ({exc}). Fix: export the file "
                "again as comma-separated UTF-8 text"
            ) from None


def _utf8_lines(path: Path, handle: Iterable[bytes]) -> Iterator[str]:
    for number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            byte = raw[exc.start : exc.start + 1].hex()
            raise ErpFileError(
                f"{path.name}, line {number}: not UTF-8 (byte 0x{byte} at character {exc.start + 1}; the file "
                "looks like Windows-1252/ANSI). Fix: save it as UTF-8 (in Excel: 'CSV UTF-8 (comma delimited)')"
            ) from None


def _field_count_problem(row: list[str], header: list[str]) -> str:
    problem = f"{len(row)} fields where the header has {len(header)}"
    if len(row) == len(header) + 1 and "amount" in header:
        at = header.index("amount")
        whole, cents = row[at].strip(), row[at + 1].strip()
        if re.fullmatch(r"[+-]?[0-9]+", whole, re.ASCII) and re.fullmatch(r"[0-9]{1,2}", cents, re.ASCII):
            return (
                f"{problem}: the amount {whole},{cents} has a decimal comma, which splits it in two. "
                f"Fix: write {whole}.{cents} ({AMOUNT_GRAMMAR})"
            )
    return f"{problem}. Fix: quote values that contain commas and give every row all columns"


def _check_header(path: Path, header: list[str], expected: tuple[str, ...]) -> None:
    if not any(header):
        raise ErpFileError(
            f"{path.name}, line 1: the file is empty. Fix: export it with the header line "
            f"{','.join(expected)} and one row per line"
        )
    if len(header) == 1 and len(expected) > 1:
        for separator, name in ((";", "semicolons"), ("\t", "tabs")):
            if separator in header[0]:
                raise ErpFileError(
                    f"{path.name}, line 1: the columns are separated by {name}, not commas. Fix: export "
                    "with a comma as separator and a dot as decimal separator (in Excel: "
                    "'CSV UTF-8 (comma delimited)')"
                )
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

    def parse(self, row: dict[str, str], column: str, parse: Callable[[str], int], expected: str) -> int:
        raw = self.text(row, column)
        try:
            return parse(raw)
        except ValueError:
            raise self.error(column, f"{raw!r} is not {expected}", f"write {expected}") from None

    def amount(self, row: dict[str, str], column: str) -> Decimal:
        raw = self.text(row, column)
        problem = amount_problem(raw)
        if problem is not None:
            raise self.error(column, *problem)
        return Decimal(raw)
