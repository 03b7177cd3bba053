"""The ERP side of the sandbox: chart of accounts and monthly GL movements as CSV files.

Movements are the payroll booked under the default mapping (debit positive), as an ERP booked from
the product's own mapping would hold them (not Nmbrs's journal: ledger.py), per ERP entity,
account and the calendar month containing each period's end date, with three deliberate
differences so that reconciliation has something to find. They are computed from the scenario as
generated, so runs added while the sandbox serves have no ERP movements.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pipelines.sandbox.calendars import period_month
from pipelines.sandbox.scenarios import ScenarioConfig, build_config
from pipelines.sandbox.world import World

CHART_OF_ACCOUNTS = (
    ("1100", "Bank", "BS"),
    ("1500", "Af te dragen loonheffing", "BS"),
    ("1510", "Af te dragen sociale verzekeringen", "BS"),
    ("1520", "Af te dragen pensioenpremies", "BS"),
    ("1600", "Te betalen nettolonen", "BS"),
    ("4000", "Salarissen", "PL"),
    ("4010", "Vakantietoeslag", "PL"),
    ("4011", "Vakantietoeslag uurloners", "PL"),
    ("4100", "Sociale lasten", "PL"),
    ("4200", "Pensioenlasten", "PL"),
    ("8000", "Omzet", "PL"),
)
# The default mapping (mappings/wage_component_gl_mapping.csv): code -> [(account, sign)]
DEFAULT_MAPPING: dict[str, tuple[tuple[str, int], ...]] = {
    "1000": (("4000", 1),),
    "1100": (("4010", 1),),
    "4000": (("1500", -1),),
    "4100": (("1520", -1),),
    "4200": (("1500", -1),),
    "5000": (("4100", 1), ("1500", -1)),
    "5100": (("4200", 1), ("1520", -1)),
    "9000": (("1600", -1),),
}
COMPANY_OVERRIDES: dict[tuple[int, str], tuple[tuple[str, int], ...]] = {(102, "1100"): (("4011", 1),)}

GlKey = tuple[str, str, int, int]  # entity, account, year, month


@dataclass(frozen=True)
class DeliberateDifference:
    entity: str
    account: str
    year_offset: int  # 0 = the scenario's first year (the previous year in demo)
    month: int
    kind: str  # difference | missing_in_erp | missing_in_payroll
    erp_change: Decimal | None  # added to ERP; None = the ERP movement is left out


DELIBERATE_DIFFERENCES = (
    DeliberateDifference("NL01", "4000", 0, 6, "difference", Decimal("100.00")),
    DeliberateDifference("NL02", "4100", 0, 3, "missing_in_erp", None),
    DeliberateDifference("NL03", "4200", 0, 12, "missing_in_payroll", Decimal("250.00")),
)


def mapping_for(company_id: int, code: str) -> tuple[tuple[str, int], ...]:
    return COMPANY_OVERRIDES.get((company_id, code), DEFAULT_MAPPING.get(code, ()))


def payroll_gl(world: World) -> dict[tuple[int, str, int, int, str], Decimal]:
    """(company_id, entity, year, month, account) -> Σ value × sign of the world's latest wage components."""
    totals: dict[tuple[int, str, int, int, str], Decimal] = defaultdict(lambda: Decimal("0.00"))
    for company in world.companies():
        for year in world.years(company.id):
            for row in world.period_report(company.id, year):
                cal_year, month = period_month(company.period_type, year, row.period)
                for line in row.lines:
                    for account, sign in mapping_for(company.id, line.code):
                        totals[(company.id, company.erp_entity, cal_year, month, account)] += (
                            line.value * sign
                        )
    return dict(totals)


def gl_movements(config: ScenarioConfig) -> dict[GlKey, Decimal]:
    """The ERP's GL movements for a scenario: the generated payroll plus the deliberate differences."""
    world = World(config)
    movements = {
        (entity, account, year, month): amount
        for (_, entity, year, month, account), amount in payroll_gl(world).items()
    }
    if config.is_demo_world:
        for diff in DELIBERATE_DIFFERENCES:
            key = (diff.entity, diff.account, config.first_year + diff.year_offset, diff.month)
            if diff.erp_change is None:
                movements.pop(key, None)
            else:
                movements[key] = movements.get(key, Decimal("0.00")) + diff.erp_change
    return movements


def write_erp_files(target_dir: str | os.PathLike, config: ScenarioConfig | None = None) -> Path:
    """Write chart_of_accounts.csv and gl_movements.csv for the scenario (default: demo, seed 42, today)."""
    config = config or build_config("demo", 42)
    target = Path(target_dir)
    target.mkdir(parents=True, exist_ok=True)
    movements = gl_movements(config)
    _write_atomically(target / "chart_of_accounts.csv", ["account", "name", "statement"], CHART_OF_ACCOUNTS)
    rows = [
        (entity, account, year, month, f"{amount:.2f}")
        for (entity, account, year, month), amount in sorted(movements.items())
    ]
    _write_atomically(target / "gl_movements.csv", ["entity", "account", "year", "month", "amount"], rows)
    return target


def _write_atomically(path: Path, header: list[str], rows) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    tmp.replace(path)


def ensure_demo_erp_files(target_dir: str | os.PathLike | None = None) -> Path:
    """The demo ERP files (demo scenario, seed 42, as of today) in target_dir, written if missing or stale.

    Default folder: `<PAYROLL_HOME or .payroll>/sandbox-erp/`. Returns the folder.
    """
    if target_dir is None:
        from pipelines.lib.settings import owner_only_dir, state_dir

        target_dir = owner_only_dir(state_dir() / "sandbox-erp")
    target = Path(target_dir)
    config = build_config("demo", 42)
    stamp = target / ".sandbox-as-of"
    fresh = stamp.exists() and stamp.read_text().strip() == config.as_of.isoformat()
    if (
        not fresh
        or not (target / "gl_movements.csv").exists()
        or not (target / "chart_of_accounts.csv").exists()
    ):
        write_erp_files(target, config)
        stamp.write_text(config.as_of.isoformat())
    return target
