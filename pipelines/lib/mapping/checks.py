"""The mapping checks behind `payroll mapping check`: keys, statements, accounts, completeness."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.lib.erp import Account
from pipelines.lib.mapping.csvfile import (
    DUPLICATE_KEY,
    KIND_TITLES,
    NO_ENTITY,
    STATEMENT_MISMATCH,
    UNKNOWN_ACCOUNT,
    UNMAPPED,
    CsvTable,
    Problem,
    cell_problem,
    display_path,
    read_csv_table,
)
from pipelines.lib.mapping.files import (
    ENTITY_FILE,
    MAPPING_COLUMNS,
    MAPPING_FILE,
    EntityRow,
    MappingRow,
    parse_mapping,
    read_entities,
)
from pipelines.lib.mapping.sources import Reference, SeenComponent


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
                cell_problem(
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
                cell_problem(
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
                cell_problem(
                    table,
                    row.line,
                    "gl_account",
                    UNKNOWN_ACCOUNT,
                    f"account {row.gl_account} is not in the ERP chart ({source}); use an existing account",
                )
            )
        elif row.statement is not None and account.statement != row.statement:
            problems.append(
                cell_problem(
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


def entity_problems(file: str, entities: Iterable[EntityRow], seen: Iterable[SeenComponent]) -> list[Problem]:
    mapped = {e.company_id for e in entities}
    companies = {c.company_id: c.company_name for c in seen}
    return [
        Problem(NO_ENTITY, f"company {cid} ({name}) has no ERP entity; add a row '{cid},<entity>'", file)
        for cid, name in sorted(companies.items())
        if cid not in mapped
    ]


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
