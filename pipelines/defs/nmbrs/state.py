"""What a company-year partition already holds, and what a new load must fetch.

The warehouse is the state: `nmbrs.payroll_runs` is written last in a company-year load, so it
records the runs whose payslips and wage components were loaded completely. A run whose row
changed (new run, different run_at, lock or period range) or whose payslips are missing is
fetched again; everything else is left as it is, so API calls grow with new runs only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from psycopg2 import sql

from pipelines.defs.nmbrs import tables
from pipelines.defs.nmbrs.tables import CoverageRow
from pipelines.lib.nmbrs.records import RunInfo
from pipelines.lib.warehouse import table_sql


def _select(conn, table: str, cols: Sequence[str], where: Mapping[str, object]) -> list[tuple]:
    query = sql.SQL("select {} from {} where {}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in cols),
        table_sql(table),
        sql.SQL(" and ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in where),
    )
    with conn.cursor() as cur:
        cur.execute(query, list(where.values()))
        rows = cur.fetchall()
    conn.rollback()  # read-only: end the transaction so that no snapshot is held
    return rows


def company_ids(conn) -> list[int]:
    """The companies of the last `nmbrs/companies` load, in id order."""
    query = sql.SQL("select company_id from {} order by company_id").format(table_sql(tables.COMPANIES))
    with conn.cursor() as cur:
        cur.execute(query)
        ids = [row[0] for row in cur.fetchall()]
    conn.rollback()
    return ids


def loaded_runs(conn, company_id: int, year: int) -> dict[int, RunInfo]:
    """The runs of the last complete load of this company-year, by run number."""
    cols = tables.columns(RunInfo)
    rows = _select(conn, tables.PAYROLL_RUNS, cols, {"company_id": company_id, "year": year})
    return {row.run_number: row for row in (RunInfo(*values) for values in rows)}


def payslip_line_counts(conn, company_id: int, year: int, table: str = tables.PAYSLIPS) -> dict[int, int]:
    """Lines per run number of a per-run table (payslips, or journals)."""
    query = sql.SQL(
        "select run_number, count(*) from {} where company_id = %s and year = %s group by run_number"
    ).format(table_sql(table))
    with conn.cursor() as cur:
        cur.execute(query, (company_id, year))
        counts = dict(cur.fetchall())
    conn.rollback()
    return counts


def loaded_coverage(conn, company_id: int, year: int) -> CoverageRow | None:
    cols = tables.columns(CoverageRow)
    rows = _select(conn, tables.SOURCE_COVERAGE, cols, {"company_id": company_id, "year": year})
    return CoverageRow(*rows[0]) if len(rows) == 1 else None


def wage_component_count(conn, company_id: int, year: int) -> int:
    query = sql.SQL("select count(*) from {} where company_id = %s and year = %s").format(
        table_sql(tables.WAGE_COMPONENTS)
    )
    with conn.cursor() as cur:
        cur.execute(query, (company_id, year))
        (count,) = cur.fetchone()
    conn.rollback()
    return count


def same_rows(
    conn, table: str, where: Mapping[str, object], cols: Sequence[str], rows: Iterable[tuple]
) -> bool:
    """True when the partition already holds exactly these rows (as a multiset, load columns ignored)."""
    return Counter(_select(conn, table, cols, where)) == Counter(tuple(row) for row in rows)


@dataclass(frozen=True)
class CompanyYearPlan:
    runs_changed: bool
    payslip_runs: tuple[RunInfo, ...]  # runs whose payslips are (re)fetched
    dropped_run_numbers: tuple[int, ...]  # runs gone from Nmbrs: their payslips are deleted
    fetch_wage_components: bool
    journal_runs: tuple[RunInfo, ...] = ()  # runs whose journals are (re)fetched
    dropped_journal_runs: tuple[int, ...] = ()  # runs gone from Nmbrs: their journals are deleted


def plan_company_year(
    current: Sequence[RunInfo],
    loaded: Mapping[int, RunInfo],
    payslip_counts: Mapping[int, int],
    wage_components_loaded: bool,
    refresh: bool,
    journal_counts: Mapping[int, int] | None = None,
) -> CompanyYearPlan:
    """Decide what to fetch for one company-year from the runs Nmbrs lists now and what was loaded."""
    by_number = {run.run_number: run for run in current}
    changed = refresh or set(by_number.items()) != set(loaded.items())
    payslip_runs = tuple(
        run
        for number, run in sorted(by_number.items())
        if refresh or loaded.get(number) != run or not payslip_counts.get(number)
    )
    dropped = tuple(sorted(set(payslip_counts) - set(by_number)))
    journals = journal_counts or {}
    journal_runs = tuple(
        run
        for number, run in sorted(by_number.items())
        if refresh or loaded.get(number) != run or not journals.get(number)
    )
    return CompanyYearPlan(
        runs_changed=changed,
        payslip_runs=payslip_runs,
        dropped_run_numbers=dropped,
        fetch_wage_components=changed or not wage_components_loaded,
        journal_runs=journal_runs,
        dropped_journal_runs=tuple(sorted(set(journals) - set(by_number))),
    )
