"""Nmbrs's own ledger set-up, read from its journals: where each wage component is booked, with the
evidence (`payroll mapping suggest --from-journals`, `payroll mapping check`).

A journal line (nmbrs.journals, variant `journals`) is matched to a wage component of the same
company, payroll run and period when its description is the component's description (case and
surrounding spaces ignored); the evidence is the number of runs that book it there, and in how many
of them the journal amount equals the component's total on the run's payslips. A component booked on
two accounts of one statement (for example 1500 in most runs, 1510 in one) is ambiguous: the account
with the most runs is proposed and the others are named.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipelines.lib.erp import Account
from pipelines.lib.mapping.files import MappingRow

BOOKINGS_SQL = """
with components as (
    select company_id, year, run_number, period, code, lower(trim(description)) as match_key,
           max(description) as description, sum(value) as amount
    from nmbrs.payslips
    group by 1, 2, 3, 4, 5, 6
),
journal as (
    select company_id, year, run_number, journal_period as period, lower(trim(description)) as match_key,
           gl_account, sum(case when side = 'debit' then amount else -amount end) as amount
    from nmbrs.journals
    where variant = 'journals' and journal_year = year
    group by 1, 2, 3, 4, 5, 6
)
select c.company_id, c.code, max(c.description), j.gl_account,
       sum(sign(j.amount) * sign(c.amount)) as direction,
       count(distinct (c.year, c.run_number)) as runs,
       count(distinct (c.year, c.run_number)) filter (where abs(j.amount) = abs(c.amount)) as amounts_equal
from components c
join journal j using (company_id, year, run_number, period, match_key)
where j.amount <> 0 and c.amount <> 0
group by c.company_id, c.code, j.gl_account
order by c.company_id, c.code, j.gl_account
"""


@dataclass(frozen=True)
class Booking:
    """Where Nmbrs's journals book one wage component of one company."""

    company_id: int
    code: str
    description: str
    account: str
    sign: int  # +1 debit, -1 credit (for a positive amount)
    runs: int
    amounts_equal: int

    @property
    def evidence(self) -> str:
        side = "debit" if self.sign > 0 else "credit"
        return (
            f"journal line {self.description!r} on {self.account} ({side}) in {self.runs} run(s), "
            f"amounts equal in {self.amounts_equal} of {self.runs}"
        )


def warehouse_bookings(conn) -> list[Booking] | None:
    """Every company × component × account Nmbrs's journals book, or None without journals."""
    with conn.cursor() as cur:
        cur.execute(
            "select to_regclass('nmbrs.journals') is not null and to_regclass('nmbrs.payslips') is not null"
        )
        if not cur.fetchone()[0]:
            return None
        cur.execute(BOOKINGS_SQL)
        found = [
            Booking(company_id, code, description or "", account, 1 if direction >= 0 else -1, runs, equal)
            for company_id, code, description, account, direction, runs, equal in cur.fetchall()
        ]
    conn.rollback()
    return found or None


@dataclass(frozen=True)
class Proposal:
    """One proposed mapping row, from the journals."""

    statement: str
    account: str
    sign: int
    evidence: str
    alternatives: tuple[Booking, ...] = ()  # other accounts of the same statement: ambiguous

    @property
    def ambiguous(self) -> bool:
        return bool(self.alternatives)

    @property
    def note(self) -> str:
        others = ", ".join(f"{b.account} in {b.runs} run(s)" for b in self.alternatives)
        return f"ambiguous in Nmbrs's journals: also {others}" if others else ""


def propose(bookings: Iterable[Booking], chart: dict[str, Account] | None) -> list[Proposal]:
    """The rows for one component (its bookings, possibly of several companies): one per statement,
    the account with the most runs, the other accounts of that statement as alternatives."""
    merged: dict[str, Booking] = {}
    for booking in bookings:
        seen = merged.get(booking.account)
        if seen is None:
            merged[booking.account] = booking
        else:
            merged[booking.account] = Booking(
                seen.company_id,
                seen.code,
                seen.description,
                seen.account,
                seen.sign,
                seen.runs + booking.runs,
                seen.amounts_equal + booking.amounts_equal,
            )
    by_statement: dict[str, list[Booking]] = defaultdict(list)
    for booking in merged.values():
        account = chart.get(booking.account) if chart else None
        by_statement[account.statement if account else ""].append(booking)
    proposals = []
    for statement, found in sorted(by_statement.items(), key=lambda item: (item[0] != "PL", item[0])):
        found.sort(key=lambda b: (-b.runs, b.account))
        best = found[0]
        proposals.append(Proposal(statement, best.account, best.sign, best.evidence, tuple(found[1:])))
    return proposals


def resolved_accounts(rows: Sequence[MappingRow], company_id: int, code: str) -> set[tuple[str, int]] | None:
    """(account, sign) our CSV posts a component of a company on (company rows replace general
    ones), or None when the component is hidden or has no complete row."""
    own = [r for r in rows if r.code == code and r.company_id == company_id]
    chosen = own or [r for r in rows if r.code == code and r.company_id is None]
    if not chosen or any(r.hidden for r in chosen):
        return None
    accounts = {(r.gl_account, r.sign) for r in chosen if r.gl_account and r.sign}
    return accounts or None


@dataclass(frozen=True)
class Disagreement:
    company_id: int
    code: str
    description: str
    csv_accounts: tuple[tuple[str, int], ...]
    nmbrs: tuple[Booking, ...]

    def __str__(self) -> str:
        ours = ", ".join(f"{a} ({'debit' if s > 0 else 'credit'})" for a, s in self.csv_accounts)
        theirs = "; ".join(b.evidence for b in self.nmbrs)
        return (
            f"company {self.company_id}, code {self.code} {self.description!r}: the CSV posts on {ours}; "
            f"Nmbrs's journals book {theirs}"
        )


def disagreements(rows: Sequence[MappingRow], bookings: Iterable[Booking]) -> list[Disagreement]:
    """Components whose CSV accounts differ from where Nmbrs's journals book them."""
    by_component: dict[tuple[int, str], list[Booking]] = defaultdict(list)
    for booking in bookings:
        by_component[(booking.company_id, booking.code)].append(booking)
    found = []
    for (company_id, code), booked in sorted(by_component.items()):
        ours = resolved_accounts(rows, company_id, code)
        if ours is None:
            continue
        theirs = {(b.account, b.sign) for b in booked}
        if theirs != ours:
            found.append(
                Disagreement(company_id, code, booked[0].description, tuple(sorted(ours)), tuple(booked))
            )
    return found
