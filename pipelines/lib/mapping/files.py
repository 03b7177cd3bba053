"""The two mapping files as typed rows: wage_component_gl_mapping.csv and company_entity_mapping.csv."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.lib.mapping.csvfile import (
    DUPLICATE_KEY,
    FORMAT,
    INCOMPLETE,
    UNKNOWN_STATEMENT,
    CsvTable,
    Problem,
    cell_problem,
    read_csv_table,
    record_cells,
)

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


def parse_mapping(table: CsvTable) -> tuple[list[MappingRow], list[Problem]]:
    """Typed rows of the wage-component mapping, with every problem a single row shows."""
    rows: list[MappingRow] = []
    problems: list[Problem] = []
    for line, record in table.records:
        cells, cell_problems = record_cells(table, line, record)
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
                cell_problem(
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
            cell_problem(table, line, "wage_component_code", FORMAT, "the wage component code is empty")
        )
    hidden = BOOLEANS.get(cells["hidden"].lower())
    if hidden is None:
        problems.append(
            cell_problem(table, line, "hidden", FORMAT, f"{cells['hidden']!r} is not true or false")
        )
    statement = cells["statement"] or None
    if statement is not None and statement not in STATEMENTS:
        problems.append(
            cell_problem(
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
                cell_problem(table, line, "sign", FORMAT, f"{cells['sign']!r} is not a sign; use 1 or -1")
            )
    if hidden is False:
        for column, value in (
            ("statement", statement),
            ("gl_account", cells["gl_account"]),
            ("sign", cells["sign"]),
        ):
            if not value:
                problems.append(
                    cell_problem(
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
        cells, cell_problems = record_cells(table, line, record)
        problems.extend(cell_problems)
        if cells is None:
            continue
        if not cells["company_id"].isdigit():
            problems.append(
                cell_problem(
                    table, line, "company_id", FORMAT, f"{cells['company_id']!r} is not a company id (digits)"
                )
            )
            continue
        if not cells["erp_entity"]:
            problems.append(
                cell_problem(
                    table, line, "erp_entity", INCOMPLETE, "erp_entity is empty: fill in the ERP entity code"
                )
            )
        company_id = int(cells["company_id"])
        if company_id in first_line:
            problems.append(
                cell_problem(
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
