"""What the mapping is checked against: the warehouse (ERP chart and synced wage components) or,
without one, the ERP chart file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.lib import erp
from pipelines.lib.erp import Account
from pipelines.lib.mapping.csvfile import FORMAT, Problem, display_path


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


def chart_file_reference(
    path: Path | None, demo_erp: bool = False
) -> tuple[dict[str, Account] | None, str | None, list[Problem]]:
    """The ERP chart from a file: the given one, else the ERP import's ($PAYROLL_ERP_DIR). `demo_erp`:
    PAYROLL_ERP_DIR was set for the sandbox's demo files, which the label then says."""
    label = None
    try:
        if path is None:
            folder = erp.erp_dir()
            if folder is None:
                return None, None, [Problem(FORMAT, erp.NO_ERP_WARNING)]
            path = folder / erp.CHART_FILE
            if demo_erp:
                label = f"{display_path(path)}, the demo ERP (PAYROLL_ERP_DIR is not set)"
        accounts = erp.read_chart_of_accounts(path)
    except erp.ErpFileError as exc:
        return None, None, [Problem(FORMAT, str(exc))]
    chart = {account.account: account for account in accounts}
    return (chart or None), label or display_path(path), []
