"""A fast writer of Nmbrs wage-component reports in the contract's shape, for benchmarks.

`<reports><report><employeeid/><period/><year/><lines><line><code/><description/><value/></line>…`
(docs/nmbrs-api.md). Values follow the sandbox's rules (salary, holiday allowance, deductions,
employer charges, net, totals) in exact cents; every other employee's values use a comma as the
decimal separator, as Nmbrs may send them. The writer returns the exact expected line count and
total, so that each loader's result can be checked to the cent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pipelines.sandbox.wages import DESCRIPTIONS  # the sandbox's wage-component catalog

LINES_PER_REPORT = len(DESCRIPTIONS)
PERIODS = 12


@dataclass(frozen=True)
class ReportFile:
    path: Path
    lines: int
    total: Decimal
    employees: int
    year: int


def component_cents(salary: int, tax_rate_pct: int) -> list[tuple[str, int]]:
    """One employee-period's components in cents, by the sandbox's rules (integer arithmetic)."""
    holiday = salary * 8 // 100
    gross = salary + holiday
    tax = gross * tax_rate_pct // 100
    pension = salary * 5 // 100
    social = gross * 25 // 1000
    employer = gross * 19 // 100
    employer_pension = salary * 10 // 100
    net = gross - (tax + pension + social)
    return [
        ("1000", salary),
        ("1100", holiday),
        ("4000", tax),
        ("4100", pension),
        ("4200", social),
        ("5000", employer),
        ("5100", employer_pension),
        ("9000", net),
        ("9900", gross),
        ("9910", employer + employer_pension),
    ]


def _amount(cents: int, comma: bool) -> str:
    text = f"{cents // 100}.{cents % 100:02d}"
    return text.replace(".", ",") if comma else text


def write_period_report(path: Path, lines: int, *, year: int = 2024, seed: int = 8) -> ReportFile:
    """Write a per-period wage-component report with exactly `lines` lines; return its expected figures."""
    rng = random.Random(seed)
    total_cents = 0
    written = 0
    employee = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<reports>')
        while written < lines:
            employee += 1
            salary = rng.randrange(250_000, 900_000)
            tax_rate = rng.randrange(30, 38)
            comma = employee % 2 == 0
            components = component_cents(salary, tax_rate)
            chunk: list[str] = []
            for period in range(1, PERIODS + 1):
                if written >= lines:
                    break
                take = components[: lines - written]
                chunk.append(
                    f"<report><employeeid>{employee}</employeeid><period>{period}</period>"
                    f"<year>{year}</year><lines>"
                )
                for code, cents in take:
                    chunk.append(
                        f"<line><code>{code}</code><description>{DESCRIPTIONS[code]}</description>"
                        f"<value>{_amount(cents, comma)}</value></line>"
                    )
                    total_cents += cents
                chunk.append("</lines></report>\n")
                written += len(take)
            out.write("".join(chunk))
        out.write("</reports>\n")
    return ReportFile(path, written, Decimal(total_cents) / 100, employee, year)
