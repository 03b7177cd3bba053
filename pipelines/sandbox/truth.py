"""Expected figures of the sandbox's current data, for tests that check a warehouse to the cent.

Tables (names as in the warehouse, with the REST components split by source):
`companies`, `employees`, `payroll_runs`, `wage_components` (the SOAP per-period report),
`rest_fixed_wage_components`, `rest_variable_wage_components`, `payslips`.
Everything is computed from the live world on demand, partition by partition.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from decimal import Decimal

from pipelines.sandbox import erp
from pipelines.sandbox.calendars import period_month
from pipelines.sandbox.wages import FIXED_CODES, VARIABLE_CODES
from pipelines.sandbox.world import World

ZERO = Decimal("0.00")
LINE_TABLES = {"wage_components", "rest_fixed_wage_components", "rest_variable_wage_components", "payslips"}
TABLES = {"companies", "employees", "payroll_runs"} | LINE_TABLES


@dataclass(frozen=True)
class TruthLine:
    company_id: int
    year: int
    period: int
    employee_id: int
    code: str
    value: Decimal
    run_number: int | None = None


@dataclass(frozen=True)
class ErpDifference:
    company_id: int
    entity: str
    account: str
    year: int
    month: int
    kind: str  # difference | missing_in_erp | missing_in_payroll
    payroll_amount: Decimal | None
    erp_amount: Decimal | None
    difference: Decimal  # payroll - erp


class Truth:
    def __init__(self, world: World):
        self._world = world

    @functools.cached_property
    def _erp_movements(self) -> dict[erp.GlKey, Decimal]:
        return erp.gl_movements(self._world.config)

    def _partitions(self, company_id: int | None, year: int | None) -> Iterator[tuple[int, int]]:
        ids = [company_id] if company_id is not None else [c.id for c in self._world.companies()]
        for cid in ids:
            for y in self._world.years(cid):
                if year is None or y == year:
                    yield cid, y

    def lines(
        self, table: str, company_id: int | None = None, year: int | None = None
    ) -> Iterator[TruthLine]:
        if table not in LINE_TABLES:
            raise ValueError(f"{table!r} has no lines; choose one of {', '.join(sorted(LINE_TABLES))}")
        for cid, y in self._partitions(company_id, year):
            # The warehouse keys employees on their employee number (docs/nmbrs-api.md), not an API id.
            number = {e.id: e.number for e in self._world.employees(cid)}
            if table == "payslips":
                for run in self._world.runs(cid, y):
                    for row in self._world.payslips(run):
                        for line in row.lines:
                            yield TruthLine(
                                cid, y, row.period, number[row.employee_id], line.code, line.value, run.number
                            )
                continue
            codes = {
                "rest_fixed_wage_components": FIXED_CODES,
                "rest_variable_wage_components": VARIABLE_CODES,
            }
            wanted = codes.get(table)
            for row in self._world.period_report(cid, y):
                for line in row.lines:
                    if wanted is None or line.code in wanted:
                        yield TruthLine(cid, y, row.period, number[row.employee_id], line.code, line.value)

    def rows(
        self, table: str, company_id: int | None = None, year: int | None = None, **filters: object
    ) -> int:
        """Expected row count of a table (optionally one company, year, period, code or run_number)."""
        if table == "companies":
            return len(self._world.companies()) if company_id is None else 1
        if table == "employees":
            ids = [company_id] if company_id is not None else [c.id for c in self._world.companies()]
            return sum(len(self._world.employees(cid)) for cid in ids)
        if table == "payroll_runs":
            return sum(len(self._world.runs(cid, y)) for cid, y in self._partitions(company_id, year))
        return sum(1 for _ in _filtered(self.lines(table, company_id, year), filters))

    def total(
        self, table: str, company_id: int | None = None, year: int | None = None, **filters: object
    ) -> Decimal:
        """Σ value of a line table, exact (filters: period, code, employee_id, run_number)."""
        return sum((line.value for line in _filtered(self.lines(table, company_id, year), filters)), ZERO)

    def totals_by_period(self, table: str, company_id: int, year: int) -> dict[int, Decimal]:
        result: dict[int, Decimal] = {}
        for line in self.lines(table, company_id, year):
            result[line.period] = result.get(line.period, ZERO) + line.value
        return result

    def gl(self, company_id: int | None = None) -> dict[tuple[int, int, int, str], Decimal]:
        """Payroll under the default mapping: (company_id, calendar year, month, account) -> amount (debit +)."""
        return {
            (cid, year, month, account): amount
            for (cid, _, year, month, account), amount in self._payroll_gl().items()
            if company_id is None or cid == company_id
        }

    def _payroll_gl(self) -> dict[tuple[int, str, int, int, str], Decimal]:
        return erp.payroll_gl(self._world)

    @property
    def erp_differences(self) -> list[ErpDifference]:
        """Every (entity, account, month) where payroll and ERP disagree, incl. the three deliberate ones."""
        entities = {c.erp_entity: c.id for c in self._world.companies()}
        payroll = {
            (entity, account, year, month): (cid, amount)
            for (cid, entity, year, month, account), amount in self._payroll_gl().items()
        }
        result = []
        for key in sorted(set(payroll) | set(self._erp_movements)):
            entity, account, year, month = key
            pay = payroll.get(key, (entities.get(entity), None))[1]
            book = self._erp_movements.get(key)
            if pay == book:
                continue
            kind = "missing_in_erp" if book is None else "missing_in_payroll" if pay is None else "difference"
            result.append(
                ErpDifference(
                    entities.get(entity),
                    entity,
                    account,
                    year,
                    month,
                    kind,
                    pay,
                    book,
                    (pay or ZERO) - (book or ZERO),
                )
            )
        return result

    def period_month(self, company_id: int, year: int, period: int) -> tuple[int, int]:
        return period_month(self._world.company(company_id).period_type, year, period)

    def to_dict(self, company_id: int | None = None, year: int | None = None) -> dict[str, object]:
        """A JSON-ready summary (amounts as strings): rows and totals per table, company, year and period."""
        partitions = list(self._partitions(company_id, year))
        tables: dict[str, object] = {
            "companies": {"rows": self.rows("companies", company_id)},
            "employees": {"rows": self.rows("employees", company_id)},
            "payroll_runs": {
                "rows": sum(len(self._world.runs(c, y)) for c, y in partitions),
                "by_company_year": {f"{c}/{y}": len(self._world.runs(c, y)) for c, y in partitions},
            },
        }
        for table in sorted(LINE_TABLES):
            per: dict[str, object] = {}
            for cid, y in partitions:
                lines = list(self.lines(table, cid, y))
                periods: dict[int, Decimal] = {}
                for line in lines:
                    periods[line.period] = periods.get(line.period, ZERO) + line.value
                per[f"{cid}/{y}"] = {
                    "rows": len(lines),
                    "total": str(sum((x.value for x in lines), ZERO)),
                    "by_period": {str(p): str(v) for p, v in sorted(periods.items())},
                }
            tables[table] = {"rows": sum(v["rows"] for v in per.values()), "by_company_year": per}
        return {
            "tables": tables,
            "gl": [
                {"company_id": c, "year": y, "month": m, "account": a, "amount": str(v)}
                for (c, y, m, a), v in sorted(self.gl(company_id).items())
                if year is None or y == year
            ],
            "erp_differences": [_jsonable(asdict(d)) for d in self.erp_differences],
        }


def _filtered(lines: Iterable[TruthLine], filters: dict[str, object]) -> Iterator[TruthLine]:
    unknown = set(filters) - {"period", "code", "employee_id", "run_number"}
    if unknown:
        raise ValueError(
            f"unknown truth filter(s) {sorted(unknown)}; use period, code, employee_id, run_number"
        )
    for line in lines:
        if all(getattr(line, key) == value for key, value in filters.items()):
            yield line


def _jsonable(record: dict[str, object]) -> dict[str, object]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in record.items()}
