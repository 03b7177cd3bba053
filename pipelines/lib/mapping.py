"""The analysts' mapping files: read them strictly, check them against the ERP chart and the synced
data, and append the wage components that have no row yet.

Every problem names the file, the line and the column, so that an analyst (or a CI log) can go
straight to the cell to fix. `payroll mapping check` and `payroll mapping suggest` are thin wrappers
around this module.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.lib import erp
from pipelines.lib.erp import Account

MAPPING_FILE = "wage_component_gl_mapping.csv"
ENTITY_FILE = "company_entity_mapping.csv"
MAPPING_COLUMNS = (
    "company_id",
    "wage_component_code",
    "description",
    "statement",
    "gl_account",
    "hidden",
    "sign",
)
ENTITY_COLUMNS = ("company_id", "erp_entity")
STATEMENTS = ("PL", "BS")
BOOLEANS = {"true": True, "false": False}
SIGNS = {"1": 1, "+1": 1, "-1": -1}
BOM = b"\xef\xbb\xbf"

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
class MappingRow:
    line: int
    company_id: int | None
    code: str
    description: str
    statement: str | None
    gl_account: str | None
    hidden: bool
    sign: int | None

    @property
    def key(self) -> tuple[int | None, str, str | None]:
        return (self.company_id, self.code, self.statement)


@dataclass(frozen=True)
class SeenComponent:
    """A wage component as it occurs in the synced data of one company."""

    company_id: int
    company_name: str
    code: str
    description: str
    first_year: int
    first_period: int

    @property
    def first_seen(self) -> str:
        return f"{self.first_year}-{self.first_period:02d}"


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


def _cells(table: CsvTable, line: int, record: list[str]) -> tuple[dict[str, str] | None, list[Problem]]:
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


def _problem(table: CsvTable, line: int, column: str, kind: str, message: str) -> Problem:
    return Problem(kind, message, table.file, line, column, table.header.index(column) + 1)


def parse_mapping(table: CsvTable) -> tuple[list[MappingRow], list[Problem]]:
    """Typed rows of the wage-component mapping, with every problem a single row shows."""
    rows: list[MappingRow] = []
    problems: list[Problem] = []
    for line, record in table.records:
        cells, cell_problems = _cells(table, line, record)
        problems.extend(cell_problems)
        if cells is None:
            continue
        row, row_problems = _mapping_row(table, line, cells)
        problems.extend(row_problems)
        if row is not None:
            rows.append(row)
    return rows, problems


def _mapping_row(
    table: CsvTable, line: int, cells: dict[str, str]
) -> tuple[MappingRow | None, list[Problem]]:
    problems = []
    company_id: int | None = None
    if cells["company_id"]:
        if cells["company_id"].isdigit():
            company_id = int(cells["company_id"])
        else:
            problems.append(
                _problem(
                    table,
                    line,
                    "company_id",
                    FORMAT,
                    f"{cells['company_id']!r} is not a company id; use the Nmbrs company id (digits) or leave it empty for all companies",
                )
            )
    code = cells["wage_component_code"]
    if not code:
        problems.append(
            _problem(table, line, "wage_component_code", FORMAT, "the wage component code is empty")
        )
    hidden = BOOLEANS.get(cells["hidden"].lower())
    if hidden is None:
        problems.append(_problem(table, line, "hidden", FORMAT, f"{cells['hidden']!r} is not true or false"))
    statement = cells["statement"] or None
    if statement is not None and statement not in STATEMENTS:
        problems.append(
            _problem(
                table,
                line,
                "statement",
                UNKNOWN_STATEMENT,
                f"{statement!r} is not a statement; use PL (profit and loss) or BS (balance sheet)",
            )
        )
    sign: int | None = None
    if cells["sign"]:
        sign = SIGNS.get(cells["sign"])
        if sign is None:
            problems.append(
                _problem(table, line, "sign", FORMAT, f"{cells['sign']!r} is not a sign; use 1 or -1")
            )
    if hidden is False:
        for column, value in (
            ("statement", statement),
            ("gl_account", cells["gl_account"]),
            ("sign", cells["sign"]),
        ):
            if not value:
                problems.append(
                    _problem(
                        table,
                        line,
                        column,
                        INCOMPLETE,
                        f"{column} is empty: fill it in, or set hidden to true for a component that is not booked",
                    )
                )
    if hidden is None or not code or (company_id is None and cells["company_id"]):
        return None, problems
    return (
        MappingRow(
            line=line,
            company_id=company_id,
            code=code,
            description=cells["description"],
            statement=statement if statement in STATEMENTS else None,
            gl_account=cells["gl_account"] or None,
            hidden=bool(hidden),
            sign=sign,
        ),
        problems,
    )


def duplicate_key_problems(table: CsvTable, rows: Iterable[MappingRow]) -> list[Problem]:
    """A key (company, code, statement) may occur once; a component is either hidden or booked."""
    problems = []
    first_line: dict[tuple, int] = {}
    booked: dict[tuple[int | None, str], int] = {}
    hidden: dict[tuple[int | None, str], int] = {}
    for row in rows:
        if row.key in first_line:
            scope = f"company {row.company_id}" if row.company_id is not None else "all companies"
            statement = f", statement {row.statement}" if row.statement else ""
            problems.append(
                _problem(
                    table,
                    row.line,
                    "wage_component_code",
                    DUPLICATE_KEY,
                    f"duplicate key ({scope}, code {row.code}{statement}): already on line {first_line[row.key]}; "
                    "keep one row per company, code and statement",
                )
            )
            continue
        first_line[row.key] = row.line
        (hidden if row.hidden else booked).setdefault((row.company_id, row.code), row.line)
    for scope_code, line in hidden.items():
        if scope_code in booked:
            problems.append(
                _problem(
                    table,
                    line,
                    "hidden",
                    DUPLICATE_KEY,
                    f"code {scope_code[1]} is hidden here but booked on line {booked[scope_code]}; keep one of the two",
                )
            )
    return problems


def chart_problems(
    table: CsvTable, rows: Iterable[MappingRow], chart: dict[str, Account], source: str
) -> list[Problem]:
    """Accounts must exist in the ERP chart, with the statement the chart gives them."""
    problems = []
    for row in rows:
        if row.gl_account is None:
            continue
        account = chart.get(row.gl_account)
        if account is None:
            problems.append(
                _problem(
                    table,
                    row.line,
                    "gl_account",
                    UNKNOWN_ACCOUNT,
                    f"account {row.gl_account} is not in the ERP chart ({source}); use an existing account",
                )
            )
        elif row.statement is not None and account.statement != row.statement:
            problems.append(
                _problem(
                    table,
                    row.line,
                    "statement",
                    STATEMENT_MISMATCH,
                    f"statement {row.statement} contradicts account {account.account} {account.name!r}, which is {account.statement} in the ERP chart",
                )
            )
    return problems


def is_mapped(rows: Iterable[MappingRow], company_id: int, code: str) -> bool:
    """A row for this code, for this company or for all companies (complete or not: incomplete rows are reported apart)."""
    return any(r.code == code and r.company_id in (None, company_id) for r in rows)


def unmapped_components(rows: Sequence[MappingRow], seen: Iterable[SeenComponent]) -> list[SeenComponent]:
    return sorted(
        (c for c in seen if not is_mapped(rows, c.company_id, c.code)),
        key=lambda c: (c.company_id, c.code),
    )


def unmapped_problems(file: str, missing: Iterable[SeenComponent]) -> list[Problem]:
    return [
        Problem(
            UNMAPPED,
            f"company {c.company_id} ({c.company_name}), code {c.code} {c.description!r}, first seen {c.first_seen}: "
            "no mapping row; run `payroll mapping suggest`, then fill in the account",
            file,
        )
        for c in missing
    ]


@dataclass(frozen=True)
class EntityRow:
    line: int
    company_id: int
    erp_entity: str


def read_entities(path: Path) -> tuple[list[EntityRow] | None, list[Problem]]:
    """company_entity_mapping.csv: one ERP entity per company; None when the file is unreadable."""
    table, problems = read_csv_table(path, ENTITY_COLUMNS)
    if table is None:
        return None, problems
    rows: list[EntityRow] = []
    first_line: dict[int, int] = {}
    for line, record in table.records:
        cells, cell_problems = _cells(table, line, record)
        problems.extend(cell_problems)
        if cells is None:
            continue
        if not cells["company_id"].isdigit():
            problems.append(
                _problem(
                    table, line, "company_id", FORMAT, f"{cells['company_id']!r} is not a company id (digits)"
                )
            )
            continue
        if not cells["erp_entity"]:
            problems.append(
                _problem(
                    table, line, "erp_entity", INCOMPLETE, "erp_entity is empty: fill in the ERP entity code"
                )
            )
        company_id = int(cells["company_id"])
        if company_id in first_line:
            problems.append(
                _problem(
                    table,
                    line,
                    "company_id",
                    DUPLICATE_KEY,
                    f"company {company_id} already has an entity on line {first_line[company_id]}; keep one",
                )
            )
            continue
        first_line[company_id] = line
        rows.append(EntityRow(line, company_id, cells["erp_entity"]))
    return rows, problems


def entity_problems(file: str, entities: Iterable[EntityRow], seen: Iterable[SeenComponent]) -> list[Problem]:
    mapped = {e.company_id for e in entities}
    companies = {c.company_id: c.company_name for c in seen}
    return [
        Problem(NO_ENTITY, f"company {cid} ({name}) has no ERP entity; add a row '{cid},<entity>'", file)
        for cid, name in sorted(companies.items())
        if cid not in mapped
    ]


@dataclass(frozen=True)
class Suggestion:
    company_id: int | None
    code: str
    description: str


def suggestions(rows: Sequence[MappingRow], seen: Sequence[SeenComponent]) -> list[Suggestion]:
    """One row per missing component: for all companies when no company maps the code at all, else per company."""
    missing = unmapped_components(rows, seen)
    by_code: dict[str, list[SeenComponent]] = defaultdict(list)
    for component in missing:
        by_code[component.code].append(component)
    companies_with_code: dict[str, set[int]] = defaultdict(set)
    for component in seen:
        companies_with_code[component.code].add(component.company_id)
    result = []
    for code in sorted(by_code, key=_code_order):
        components = by_code[code]
        code_in_file = any(r.code == code for r in rows)
        description = Counter(c.description for c in components).most_common(1)[0][0]
        if not code_in_file and {c.company_id for c in components} == companies_with_code[code]:
            result.append(Suggestion(None, code, description))
        else:
            result.extend(Suggestion(c.company_id, code, c.description) for c in components)
    return result


def _code_order(code: str) -> tuple[int, int | str]:
    return (0, int(code)) if code.isdigit() else (1, code)


def append_suggestions(path: Path, table: CsvTable, new: Sequence[Suggestion]) -> list[int]:
    """Append rows without touching a byte of what is there; returns the new rows' line numbers.

    The new lines follow the file's line ending and quoting style. The file is replaced atomically,
    so an interrupted run leaves either the old file or the complete new one.
    """
    if not new:
        return []
    original = path.read_bytes()
    newline = "\r\n" if b"\r\n" in original.split(b"\n", 1)[0] + b"\n" else "\n"
    first_line = original.removeprefix(BOM).split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8")
    quote_all = all(f.startswith('"') and f.endswith('"') for f in first_line.split(","))
    false_spelling = next(_false_spellings(table), "false")
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, lineterminator=newline, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    )
    for suggestion in new:
        values = {
            "company_id": "" if suggestion.company_id is None else str(suggestion.company_id),
            "wage_component_code": suggestion.code,
            "description": suggestion.description,
            "statement": "",
            "gl_account": "",
            "hidden": false_spelling,
            "sign": "",
        }
        writer.writerow([values[column] for column in table.header])
    separator = b"" if original.endswith(b"\n") or not original else newline.encode()
    content = original + separator + buffer.getvalue().encode("utf-8")
    _replace_atomically(path, content)
    lines_before = original.count(b"\n") + (1 if separator else 0)
    return list(range(lines_before + 1, lines_before + 1 + len(new)))


def _false_spellings(table: CsvTable) -> Iterator[str]:
    position = table.header.index("hidden")
    for _, record in table.records:
        if len(record) == len(table.header) and record[position].strip().lower() == "false":
            yield record[position].strip()


def _replace_atomically(path: Path, content: bytes) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        shutil.copymode(path, temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Reference:
    """What the mapping is checked against, and where each part came from (for the report)."""

    chart: dict[str, Account] | None
    chart_source: str | None
    seen: list[SeenComponent] | None
    seen_source: str | None
    problems: tuple[Problem, ...] = ()


SEEN_COMPONENTS_SQL = """
with lines as (
    select company_id, code, description, year, period from nmbrs.wage_components
    {payslips}
),
companies as (
    select distinct on (company_id) company_id, name from nmbrs.companies order by company_id, name
)
select
    lines.company_id,
    coalesce(companies.name, ''),
    lines.code,
    (array_agg(lines.description order by lines.year desc, lines.period desc))[1],
    min(lines.year * 100 + lines.period)
from lines
left join companies using (company_id)
group by lines.company_id, companies.name, lines.code
order by lines.company_id, lines.code
"""


def _table_exists(cur, name: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (name,))
    return bool(cur.fetchone()[0])


def warehouse_chart(conn) -> dict[str, Account] | None:
    """erp.chart_of_accounts, or None when the ERP import has not run yet."""
    with conn.cursor() as cur:
        if not _table_exists(cur, "erp.chart_of_accounts"):
            return None
        cur.execute("select account, name, statement from erp.chart_of_accounts")
        chart = {
            str(a).strip(): Account(str(a).strip(), n or "", (s or "").strip()) for a, n, s in cur.fetchall()
        }
    return chart or None


def warehouse_components(conn) -> list[SeenComponent] | None:
    """Every company × wage component in the synced data, or None when nothing is synced yet."""
    with conn.cursor() as cur:
        if not (_table_exists(cur, "nmbrs.wage_components") and _table_exists(cur, "nmbrs.companies")):
            return None
        payslips = (
            "union all select company_id, code, description, year, period from nmbrs.payslips"
            if _table_exists(cur, "nmbrs.payslips")
            else ""
        )
        cur.execute(SEEN_COMPONENTS_SQL.format(payslips=payslips))
        seen = [
            SeenComponent(company_id, name, code, description or "", first // 100, first % 100)
            for company_id, name, code, description, first in cur.fetchall()
        ]
    return seen or None


def chart_file_reference(path: Path | None) -> tuple[dict[str, Account] | None, str | None, list[Problem]]:
    """The ERP chart from a file: the given one, else the ERP import's ($PAYROLL_ERP_DIR, or the demo files)."""
    label = None
    try:
        if path is None:
            path = erp.erp_dir() / erp.CHART_FILE
            if not os.environ.get("PAYROLL_ERP_DIR", "").strip():
                label = f"{display_path(path)}, the demo ERP (PAYROLL_ERP_DIR is not set)"
        accounts = erp.read_chart_of_accounts(path)
    except erp.ErpFileError as exc:
        return None, None, [Problem(FORMAT, str(exc))]
    chart = {account.account: account for account in accounts}
    return (chart or None), label or display_path(path), []


@dataclass(frozen=True)
class CheckResult:
    mapping_file: str
    entity_file: str
    rows: int
    reference: Reference
    problems: list[Problem]
    unmapped: list[SeenComponent]

    def by_kind(self) -> dict[str, list[Problem]]:
        grouped: dict[str, list[Problem]] = {kind: [] for kind in KIND_TITLES}
        for problem in self.problems:
            grouped[problem.kind].append(problem)
        return grouped

    @property
    def ok(self) -> bool:
        return not self.problems


def check(mappings_dir: Path, reference: Reference) -> CheckResult:
    """Validate both mapping files, then check them against the reference (chart and synced data)."""
    mapping_path = mappings_dir / MAPPING_FILE
    entity_path = mappings_dir / ENTITY_FILE
    problems: list[Problem] = list(reference.problems)
    table, table_problems = read_csv_table(mapping_path, MAPPING_COLUMNS)
    problems.extend(table_problems)
    rows: list[MappingRow] = []
    unmapped: list[SeenComponent] = []
    if table is not None:
        rows, row_problems = parse_mapping(table)
        problems.extend(row_problems)
        problems.extend(duplicate_key_problems(table, rows))
        if reference.chart is not None:
            problems.extend(chart_problems(table, rows, reference.chart, reference.chart_source or "ERP"))
        if reference.seen is not None:
            unmapped = unmapped_components(rows, reference.seen)
            problems.extend(unmapped_problems(table.file, unmapped))
    entities, entity_file_problems = read_entities(entity_path)
    problems.extend(entity_file_problems)
    if reference.seen is not None and entities is not None:
        problems.extend(entity_problems(display_path(entity_path), entities, reference.seen))
    return CheckResult(
        display_path(mapping_path), display_path(entity_path), len(rows), reference, problems, unmapped
    )


def suggest(mappings_dir: Path, seen: Sequence[SeenComponent]) -> tuple[str, list[Suggestion], list[int]]:
    """Append the missing components to the mapping file; refuses a file it cannot read exactly."""
    path = mappings_dir / MAPPING_FILE
    table, problems = read_csv_table(path, MAPPING_COLUMNS)
    if table is None:
        raise MappingFileError(problems)
    rows, row_problems = parse_mapping(table)
    blocking = [p for p in [*problems, *row_problems] if p.kind == FORMAT]
    if blocking:
        raise MappingFileError(blocking)
    new = suggestions(rows, seen)
    return table.file, new, append_suggestions(path, table, new)
