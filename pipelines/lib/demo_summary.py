"""What the warehouse holds after a sync, in a few lines: the end of `payroll demo`.

Read from the raw tables and the marts: companies, periods and employees loaded (periods named by
the marts' period_label: `2026-11` for a month, `2026 P12 (4-wk)` for a four-weekly period); wage
components mapped, hidden and unmapped per company; reconciliation status counts with every
difference listed; the three-way reconciliation (payroll mapped by our CSV, Nmbrs's journal, the
ERP) with every difference and the side that disagrees, or why no journal was loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from pipelines.lib import warehouse

RECONCILIATION_STATUSES = ("matched", "difference", "missing_in_erp", "missing_in_payroll")
THREE_WAY_STATUSES = (
    "matched",
    "mapping_differs_from_nmbrs",
    "erp_differs_from_journal",
    "missing_in_erp",
    "missing_in_payroll",
)
MAPPING_STATUSES = ("mapped", "hidden", "unmapped")
HIDDEN_MEANS = "hidden = left out of the GL on purpose, such as the gross and net pay totals"


@dataclass(frozen=True)
class CompanyLoad:
    company_id: int
    name: str
    period_type: str
    employees: int
    periods: int
    first_period: str | None
    last_period: str | None


@dataclass(frozen=True)
class Difference:
    company_id: int
    company: str
    year: int
    month: int
    statement: str | None
    account: str
    account_name: str | None
    payroll: Decimal
    erp: Decimal
    difference: Decimal
    status: str


@dataclass(frozen=True)
class ThreeWayDifference:
    entity: str
    year: int
    month: int
    statement: str | None
    account: str
    account_name: str | None
    payroll: Decimal
    journal: Decimal
    erp: Decimal
    status: str


@dataclass
class DemoSummary:
    companies: list[CompanyLoad] = field(default_factory=list)
    wage_components: dict[str, int] = field(default_factory=dict)  # mapping status -> company x code count
    wage_components_by_company: dict[int, dict[str, int]] = field(
        default_factory=dict
    )  # company -> status -> codes
    component_codes: int = 0
    reconciliation: dict[str, int] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)
    marts_built: bool = False
    journal_runs: int = 0  # runs with an Nmbrs journal loaded
    source_mode: str | None = None
    three_way: dict[str, int] = field(default_factory=dict)
    three_way_differences: list[ThreeWayDifference] = field(default_factory=list)

    @property
    def employees(self) -> int:
        return sum(company.employees for company in self.companies)

    @property
    def periods(self) -> int:
        return sum(company.periods for company in self.companies)


def _exists(cur, relation: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (relation,))
    return cur.fetchone()[0]


def collect(database_url: str) -> DemoSummary:
    """Read the summary from the warehouse. Missing marts (dbt has not run) leave those parts empty."""
    summary = DemoSummary()
    conn = warehouse.connect(database_url)
    try:
        with conn.cursor() as cur:
            summary.marts_built = all(
                _exists(cur, f"marts.{name}")
                for name in ("dim_wage_components", "payroll_gl_reconciliation", "fct_payroll_lines")
            )
            if _exists(cur, "nmbrs.companies"):
                summary.companies = _companies(cur, summary.marts_built)
            if summary.marts_built:
                _wage_components(cur, summary)
                _reconciliation(cur, summary)
            _journals(cur, summary)
            if _exists(cur, "marts.payroll_three_way_reconciliation"):
                _three_way(cur, summary)
    finally:
        conn.close()
    return summary


def _companies(cur, marts_built: bool) -> list[CompanyLoad]:
    """Loads per company; the first and last period by the marts' label (before the marts are
    built, as `<year> P<period>`)."""
    labels = (
        "select distinct company_id, year * 100 + period as year_period, period_label from marts.fct_payroll_lines"
        if marts_built
        else "select distinct company_id, year * 100 + period as year_period, "
        "year || ' P' || lpad(period::text, 2, '0') as period_label from nmbrs.wage_components"
    )
    cur.execute(
        f"""
        with periods as (
            select company_id, count(distinct (year, period)) as periods,
                   min(year * 100 + period) as first_period, max(year * 100 + period) as last_period
            from nmbrs.wage_components group by company_id
        ),
        employees as (select company_id, count(*) as employees from nmbrs.employees group by company_id),
        labels as ({labels})
        select c.company_id, c.name, c.period_type, coalesce(e.employees, 0), coalesce(p.periods, 0),
               first_label.period_label, last_label.period_label
        from nmbrs.companies as c
        left join periods as p on p.company_id = c.company_id
        left join employees as e on e.company_id = c.company_id
        left join labels as first_label
            on first_label.company_id = c.company_id and first_label.year_period = p.first_period
        left join labels as last_label
            on last_label.company_id = c.company_id and last_label.year_period = p.last_period
        order by c.company_id
        """  # noqa: S608 - `labels` is one of two fixed queries
    )
    return [CompanyLoad(row[0], row[1], row[2] or "", *row[3:]) for row in cur.fetchall()]


def _wage_components(cur, summary: DemoSummary) -> None:
    cur.execute("select mapping_status, count(*) from marts.dim_wage_components group by mapping_status")
    summary.wage_components = {status: count for status, count in cur.fetchall()}
    cur.execute("select count(distinct wage_component_code) from marts.dim_wage_components")
    summary.component_codes = cur.fetchone()[0]
    cur.execute(
        "select company_id, mapping_status, count(*) from marts.dim_wage_components group by 1, 2 order by 1"
    )
    for company_id, status, count in cur.fetchall():
        summary.wage_components_by_company.setdefault(company_id, {})[status] = count


def _reconciliation(cur, summary: DemoSummary) -> None:
    cur.execute("select status, count(*) from marts.payroll_gl_reconciliation group by status")
    summary.reconciliation = {status: count for status, count in cur.fetchall()}
    cur.execute(
        """
        select company_id, coalesce(company_name, company_id::text), year, month, statement, gl_account, gl_account_name,
               payroll_amount, erp_amount, difference, status
        from marts.payroll_gl_reconciliation
        where status <> 'matched'
        order by company_id, year, month, statement, gl_account
        """
    )
    summary.differences = [Difference(*row) for row in cur.fetchall()]


def _journals(cur, summary: DemoSummary) -> None:
    if _exists(cur, "nmbrs.environment"):
        cur.execute("select source_mode from nmbrs.environment limit 1")
        row = cur.fetchone()
        summary.source_mode = row[0] if row else None
    if _exists(cur, "nmbrs.journals"):
        cur.execute("select count(distinct (company_id, year, run_number)) from nmbrs.journals")
        summary.journal_runs = cur.fetchone()[0]


def _three_way(cur, summary: DemoSummary) -> None:
    cur.execute("select status, count(*) from marts.payroll_three_way_reconciliation group by status")
    summary.three_way = {status: count for status, count in cur.fetchall()}
    cur.execute(
        """
        select erp_entity, year, month, statement, gl_account, gl_account_name,
               payroll_amount, journal_amount, erp_amount, status
        from marts.payroll_three_way_reconciliation
        where status <> 'matched'
        order by erp_entity, year, month, statement, gl_account
        """
    )
    summary.three_way_differences = [ThreeWayDifference(*row) for row in cur.fetchall()]


def render(summary: DemoSummary) -> Iterator[str]:
    """The summary as printable lines."""
    yield (
        f"Loaded {len(summary.companies)} companies, {summary.periods} payroll periods and "
        f"{summary.employees} employees:"
    )
    for company in summary.companies:
        span = f"{company.first_period} .. {company.last_period}" if company.first_period else "no periods"
        yield (
            f"  {company.company_id}  {company.name}  ({company.period_type}): {company.employees} employees, "
            f"{company.periods} periods ({span})"
        )
    if not summary.marts_built:
        yield "The marts are not built yet: see the failed step above, fix it and run `payroll demo` again."
        return
    yield from _wage_component_lines(summary)
    total = sum(summary.reconciliation.values())
    parts = ", ".join(
        f"{summary.reconciliation.get(status, 0)} {status}" for status in RECONCILIATION_STATUSES
    )
    yield f"Reconciliation with the ERP ({total} company x month x account rows): {parts}"
    if summary.differences:
        yield from _difference_table(summary.differences)
    yield from _three_way_lines(summary)


def _three_way_lines(summary: DemoSummary) -> Iterator[str]:
    if summary.journal_runs:
        yield f"Nmbrs journals: loaded for {summary.journal_runs} payroll runs."
    else:
        yield (
            "Nmbrs journals: none loaded"
            + (
                f" (source mode {summary.source_mode}: journals come from the REST API)"
                if summary.source_mode == "soap"
                else ""
            )
            + "; the three-way reconciliation compares payroll and ERP only."
        )
    if not summary.three_way:
        return
    total = sum(summary.three_way.values())
    parts = ", ".join(f"{summary.three_way.get(status, 0)} {status}" for status in THREE_WAY_STATUSES)
    yield (
        f"Three-way reconciliation: payroll (our mapping), Nmbrs's journal, ERP ({total} entity x month x "
        f"account rows): {parts}"
    )
    if not summary.three_way_differences:
        return
    header = ("entity", "month", "account", "payroll", "journal", "ERP", "status")
    rows = [
        (
            d.entity,
            f"{d.year}-{d.month:02d}",
            f"{d.statement or '?'} {d.account} {d.account_name or ''}".rstrip(),
            f"{d.payroll:,.2f}",
            f"{d.journal:,.2f}",
            f"{d.erp:,.2f}",
            d.status,
        )
        for d in summary.three_way_differences
    ]
    yield from _table(header, rows, numeric={3, 4, 5})
    yield "  The employee x wage component lines behind each difference: marts.payroll_reconciliation_explained"


def _wage_component_lines(summary: DemoSummary) -> Iterator[str]:
    names = {company.company_id: company.name for company in summary.companies}
    unmapped = summary.wage_components.get("unmapped", 0)
    yield (
        f"Wage components: {summary.component_codes} codes in all; per company ({HIDDEN_MEANS})"
        + (": run `payroll mapping check` for the unmapped ones" if unmapped else ":")
    )
    for company_id, counts in sorted(summary.wage_components_by_company.items()):
        parts = ", ".join(f"{counts.get(status, 0)} {status}" for status in MAPPING_STATUSES)
        yield f"  {company_id}  {names.get(company_id, '')}: {parts}"


def _difference_table(differences: list[Difference]) -> Iterator[str]:
    header = ("company", "month", "account", "payroll", "ERP", "difference", "status")
    rows = [
        (
            d.company,
            f"{d.year}-{d.month:02d}",
            f"{d.statement or '?'} {d.account} {d.account_name or ''}".rstrip(),
            f"{d.payroll:,.2f}",
            f"{d.erp:,.2f}",
            f"{d.difference:,.2f}",
            d.status,
        )
        for d in differences
    ]
    yield from _table(header, rows, numeric={3, 4, 5})


def _table(header: tuple[str, ...], rows: list[tuple], numeric: set[int]) -> Iterator[str]:
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]

    def line(values) -> str:
        cells = [
            str(value).rjust(widths[i]) if i in numeric else str(value).ljust(widths[i])
            for i, value in enumerate(values)
        ]
        return "  " + "  ".join(cells).rstrip()

    yield line(header)
    for row in rows:
        yield line(row)
