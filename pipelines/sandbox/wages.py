"""The sandbox's payroll arithmetic: wage-component lines of one employee for one period, to the cent.

gross = 1000 + 1100; net (9000) = gross - (4000 + 4100 + 4200) exactly, because every line is
rounded to cents first and the net is derived from the rounded lines.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from pipelines.sandbox.model import Line

CENT = Decimal("0.01")

DESCRIPTIONS = {
    "1000": "Salaris",
    "1100": "Vakantietoeslag",
    "4000": "Loonheffing",
    "4100": "Pensioenpremie werknemer",
    "4200": "Sociale verzekeringen werknemer",
    "5000": "Werkgeverslasten sociale verzekeringen",
    "5100": "Pensioenpremie werkgever",
    "9000": "Nettoloon",
    "9900": "Totaal bruto",
    "9910": "Totaal werkgeverslasten",
}
FIXED_CODES = ("1000",)  # entered on the employee as fixed wage components (REST)
VARIABLE_CODES = ("1100",)  # entered on the employee as variable wage components (REST)
DEDUCTION_CODES = ("4000", "4100", "4200")
GROSS_CODES = ("1000", "1100")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def salary_for(monthly_salary: Decimal, period_type: str, years_since_start: int) -> Decimal:
    """The period salary: a 2.5% raise per year; Week4 pays monthly x 12 / 13."""
    monthly = cents(monthly_salary * (1 + Decimal("0.025") * years_since_start))
    return monthly if period_type == "Month" else cents(monthly * 12 / 13)


def period_lines(salary: Decimal, tax_rate: Decimal, has_pension: bool) -> tuple[Line, ...]:
    """All wage-component lines for one period, in code order (pension lines only with pension)."""
    holiday = cents(salary * Decimal("0.08"))
    gross = salary + holiday
    values = {"1000": salary, "1100": holiday, "4000": cents(gross * tax_rate)}
    if has_pension:
        values["4100"] = cents(salary * Decimal("0.05"))
    values["4200"] = cents(gross * Decimal("0.025"))
    values["5000"] = cents(gross * Decimal("0.19"))
    if has_pension:
        values["5100"] = cents(salary * Decimal("0.10"))
    values["9000"] = gross - sum(
        (values.get(code, Decimal("0.00")) for code in DEDUCTION_CODES), Decimal("0.00")
    )
    values["9900"] = gross
    values["9910"] = values["5000"] + values.get("5100", Decimal("0.00"))
    return tuple(Line(code, DESCRIPTIONS[code], values[code]) for code in sorted(values))
