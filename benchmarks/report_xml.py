"""A fast writer of Nmbrs wage-component reports in the real shape, for benchmarks.

The accountant report `EmployeesList/Employees/WageComponentsList/WageComponents/Values/Value
{ComponentValue, Period, Run}` with Nmbrs's `encoding="utf-16"` declaration (docs/nmbrs-api-soap.md,
SOAP). Values follow the sandbox's rules (salary, holiday allowance, deductions,
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

PERIODS = 12
YEAR = 2024


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


def write_period_report(path: Path, lines: int, *, year: int = YEAR, seed: int = 8) -> ReportFile:
    """Write a per-period wage-component report with exactly `lines` values; return its expected figures."""
    rng = random.Random(seed)
    total_cents = 0
    written = 0
    employee = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(
            '<?xml version="1.0" encoding="utf-16"?>\n<ReportCompanyEmployeeWageComponent><CompanyID>1'
            "</CompanyID><CompanyName>Bench B.V.</CompanyName><CompanyNumber>1</CompanyNumber>"
            "<PeriodType>Month</PeriodType><EmployeesList>"
        )
        while written < lines:
            employee += 1
            salary = rng.randrange(250_000, 900_000)
            tax_rate = rng.randrange(30, 38)
            comma = employee % 2 == 0
            chunk = [f"<Employees><EmployeeID>{employee}</EmployeeID><WageComponentsList>"]
            for code, cents in component_cents(salary, tax_rate):
                if written >= lines:
                    break
                periods = min(PERIODS, lines - written)
                chunk.append(
                    f"<WageComponents><ComponentNumber>{code}</ComponentNumber><ComponentName>"
                    f"{DESCRIPTIONS[code]}</ComponentName><Values>"
                )
                for period in range(1, periods + 1):
                    chunk.append(
                        f"<Value><ComponentValue>{_amount(cents, comma)}</ComponentValue>"
                        f"<Period>{period}</Period><Run>{period}</Run></Value>"
                    )
                chunk.append("</Values></WageComponents>")
                total_cents += cents * periods
                written += periods
            chunk.append("</WageComponentsList></Employees>\n")
            out.write("".join(chunk))
        out.write("</EmployeesList></ReportCompanyEmployeeWageComponent>\n")
    return ReportFile(path, written, Decimal(total_cents) / 100, employee, year)
