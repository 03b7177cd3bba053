"""The raw Nmbrs tables the assets write, the rows that only the extraction produces, and the loader
that writes them.

The DDL lives in pipelines/lib/warehouse.py and the API records in pipelines/lib/nmbrs/records.py
(docs/design.md); `columns()` gives each record's column order. The load columns (_loaded_at,
_dagster_run_id, _source) are added by `warehouse.replace_partition`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, NamedTuple

from pipelines.lib import warehouse
from pipelines.lib.nmbrs import records

ENVIRONMENT = "nmbrs.environment"
COMPANIES = "nmbrs.companies"
EMPLOYEES = "nmbrs.employees"
EMPLOYEE_PERSONAL = "nmbrs_restricted.employee_personal"
EMPLOYEE_ASSIGNMENTS = "nmbrs.employee_assignments"
PAYROLL_RUNS = "nmbrs.payroll_runs"
WAGE_COMPONENTS = "nmbrs.wage_components"
PAYSLIPS = "nmbrs.payslips"
JOURNALS = "nmbrs.journals"
SOURCE_COVERAGE = "nmbrs.source_coverage"
SCHEMA_DRIFT = "nmbrs.schema_drift"


@dataclass(frozen=True, slots=True)
class EnvironmentRow:
    domain: str | None
    subdomain: str | None
    source_mode: str


class PayslipRow(NamedTuple):
    company_id: int
    year: int
    run_id: str
    run_number: int
    period: int
    employee_id: int
    code: str
    description: str
    value: Decimal


class JournalRow(NamedTuple):
    """One line of a run's journal in one variant (REST ids as text, on the company number)."""

    company_id: int
    company_number: str | None
    year: int
    run_id: str  # the REST payrollRunId
    run_number: int
    variant: str
    journal_year: int
    journal_period: int
    journal_date: dt.date | None
    line_id: str | None
    gl_account: str  # as set up in Nmbrs (dim1)
    dimension: str | None  # cost centre, department or employee number, by variant (dim2)
    cost_unit: str | None  # dim3
    side: str  # debit | credit
    description: str | None
    amount: Decimal  # as written, not negative


class AssignmentRow(NamedTuple):
    """One entry of an employee's department or cost-centre history (REST), on the warehouse keys."""

    company_id: int
    employee_id: int  # the employee number (docs/nmbrs-api.md, "Keys")
    kind: str  # department | cost_centre
    code: str
    description: str | None
    valid_from_year: int | None  # the period the entry starts, as the REST record gives it
    valid_from_period: int | None
    assigned_at: dt.datetime | None  # the record's createdAt


@dataclass(frozen=True, slots=True)
class CoverageRow:
    company_id: int
    year: int
    source_mode: str
    wage_component_source: str
    coverage: str


class DriftRow(NamedTuple):
    element: str
    occurrences: int


_COLUMNS: dict[type, tuple[str, ...]] = {
    **records.ROW_COLUMNS,
    EnvironmentRow: ("domain", "subdomain", "source_mode"),
    PayslipRow: PayslipRow._fields,
    JournalRow: JournalRow._fields,
    AssignmentRow: AssignmentRow._fields,
    CoverageRow: ("company_id", "year", "source_mode", "wage_component_source", "coverage"),
    DriftRow: DriftRow._fields,
}


def columns(record: type) -> tuple[str, ...]:
    """Column names of a row record, in table order."""
    return _COLUMNS[record]


def as_tuple(row) -> tuple:
    """A row's values in column order. Shallow: the row fields are plain values (dataclasses.astuple
    deep-copies every value, which cost a third of the REST run-output load, docs/performance.md)."""
    if isinstance(row, tuple):
        return row
    return tuple(getattr(row, name) for name in _FIELD_NAMES.get(type(row)) or _field_names(type(row)))


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(record: type) -> tuple[str, ...]:
    names = _FIELD_NAMES[record] = tuple(f.name for f in fields(record))
    return names


@dataclass(frozen=True)
class Loader:
    """Replaces raw-table partitions for one step: bound once to the connection, the partition's
    columns (`where`, e.g. company and year), the API source and the Dagster run id."""

    conn: Any
    source: str
    run_id: str | None
    where: Mapping[str, object] = field(default_factory=dict)

    def replace(self, table: str, record: type, rows: Iterable[Any], **narrower: object) -> int:
        """Replace the rows of `table` in this partition (narrowed by `narrower`, e.g. a run) by `rows`."""
        return warehouse.replace_partition(
            self.conn,
            table,
            {**self.where, **narrower},
            columns(record),
            rows,
            source=self.source,
            run_id=self.run_id,
        )
