"""Fast writers of Nmbrs wage-component files for benchmarks: the SOAP report and the REST run outputs.

The SOAP accountant report `EmployeesList/Employees/WageComponentsList/WageComponents/Values/Value
{ComponentValue, Period, Run}` with Nmbrs's `encoding="utf-16"` declaration (docs/nmbrs-api-soap.md,
SOAP). Values follow the sandbox's rules (salary, holiday allowance, deductions,
employer charges, net, totals) in exact cents; every other employee's values use a comma as the
decimal separator, as Nmbrs may send them. The writer returns the exact expected line count and
total, so that each loader's result can be checked to the cent.

`write_run_outputs` writes the same lines (same seed, same values) as REST run output documents in
the sandbox's shape (pipelines/sandbox/documents.py, parsed by pipelines/lib/nmbrs/documents.py):
one document per payroll run, run N holding period N, `runoutput/employees/employee{employeeid,
employeenumber}/periods/period{year, number}/wagecodes/wagecode{code, description, value}`, values
with a dot (the run output has no comma decimals).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
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
    runs: list[tuple[str, int, Path]] = field(default_factory=list)  # run outputs: (run id, number, file)


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


def _employees(lines: int, seed: int) -> list[tuple[int, list[tuple[str, int, int]]]]:
    """(employee, [(code, cents, periods)]) with exactly `lines` values, in write_period_report's order."""
    rng = random.Random(seed)
    found = []
    written = 0
    employee = 0
    while written < lines:
        employee += 1
        salary = rng.randrange(250_000, 900_000)
        tax_rate = rng.randrange(30, 38)
        codes = []
        for code, cents in component_cents(salary, tax_rate):
            if written >= lines:
                break
            periods = min(PERIODS, lines - written)
            codes.append((code, cents, periods))
            written += periods
        found.append((employee, codes))
    return found


def run_id(number: int) -> str:
    """A UUID-shaped payroll run id, as REST has them."""
    return f"00000000-0000-4000-8000-{number:012d}"


def write_run_outputs(folder: Path, lines: int, *, year: int = YEAR, seed: int = 8) -> ReportFile:
    """Write the lines of write_period_report(lines, seed) as one REST run output per period (run N
    holds period N); return the expected figures, the runs in `runs`."""
    employees = _employees(lines, seed)
    folder.mkdir(parents=True, exist_ok=True)
    total_cents = 0
    written = 0
    runs = []
    for number in range(1, PERIODS + 1):
        path = folder / f"run-{number:02d}.xml"
        with path.open("w", encoding="utf-8", newline="") as out:
            out.write(
                '<?xml version="1.0" encoding="utf-8"?>\n<runoutput><companyid>'
                "00000000-0000-4000-8000-000000000001</companyid><companynumber>1</companynumber>"
                f"<payrollrunid>{run_id(number)}</payrollrunid><runnumber>{number}</runnumber>"
                f"<year>{year}</year><employees>"
            )
            for employee, codes in employees:
                present = [(code, cents) for code, cents, periods in codes if periods >= number]
                if not present:
                    continue
                chunk = [
                    f"<employee><employeeid>00000000-0000-4000-9000-{employee:012d}</employeeid>"
                    f"<employeenumber>{employee}</employeenumber><periods><period><year>{year}</year>"
                    f"<number>{number}</number><wagecodes>"
                ]
                for code, cents in present:
                    chunk.append(
                        f"<wagecode><code>{code}</code><description>{DESCRIPTIONS[code]}</description>"
                        f"<value>{_amount(cents, False)}</value></wagecode>"
                    )
                    total_cents += cents
                    written += 1
                chunk.append("</wagecodes></period></periods></employee>\n")
                out.write("".join(chunk))
            out.write("</employees></runoutput>\n")
        runs.append((run_id(number), number, path))
    return ReportFile(folder, written, Decimal(total_cents) / 100, len(employees), year, runs)
