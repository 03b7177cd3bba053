"""Nmbrs's own general-ledger set-up in the sandbox: the account each wage component is booked on.

It follows the default mapping the ERP side uses (`erp.mapping_for`, the model of
mappings/wage_component_gl_mapping.csv): sign +1 books a debit, -1 a credit. In the demo world
one component is set up differently in Nmbrs for one company and one period, so that
reconciliation can name the side that disagrees (issue 13's `mapping_differs_from_nmbrs`):
NMBRS_DIFFERENCE (knob `ledger_difference`, on by default). The demo ERP (erp.py) is booked from the
product's mapping, not from Nmbrs's journal, so there the ERP agrees with our mapping and Nmbrs's
journal is the odd one out.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.sandbox.erp import mapping_for
from pipelines.sandbox.scenarios import ScenarioConfig


@dataclass(frozen=True)
class LedgerDifference:
    code: str
    mapping_account: str  # where mappings/wage_component_gl_mapping.csv books it
    nmbrs_account: str  # where Nmbrs's ledger set-up books it
    company_id: int
    year_offset: int  # 0 = the scenario's first year
    period: int


# Employee social security (4200) of company 101 in period 9 of the first year: our CSV credits
# 1500, Nmbrs's set-up credits 1510.
NMBRS_DIFFERENCE = LedgerDifference("4200", "1500", "1510", 101, 0, 9)


def nmbrs_accounts(
    config: ScenarioConfig, company_id: int, code: str, year: int, period: int
) -> tuple[tuple[str, int], ...]:
    """(account, +1 debit / -1 credit) per booking of one wage component in one period, as set up in Nmbrs."""
    accounts = mapping_for(company_id, code)
    diff = NMBRS_DIFFERENCE
    if (
        config.is_demo_world
        and config.ledger_difference
        and (code, company_id, year, period)
        == (
            diff.code,
            diff.company_id,
            config.first_year + diff.year_offset,
            diff.period,
        )
    ):
        return tuple((diff.nmbrs_account if a == diff.mapping_account else a, s) for a, s in accounts)
    return accounts
