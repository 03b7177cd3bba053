"""Report content: the XML documents carried as text in Reports_BackgroundTask_ResultResult/Content.

Both shapes as docs/nmbrs-api-soap.md (SOAP) describes them, each starting with .NET's
`<?xml version="1.0" encoding="utf-16"?>` although the text travels as UTF-8, after a byte-order
mark in some reports (`with_bom`), so that both variants are served.
- `wage_component_report`: the accountant per-period report, `EmployeesList/Employees/
  WageComponentsList/WageComponents/Values/Value {ComponentValue, Period, Run}`; one Value per period
  that has been run, with the period's latest (corrected) amount and the run that set it.
- `payslip_report`: one `<payslip>` per employee and period of a run, `lines/line {code, description,
  group, amount, value, ...}`; the money is in `<value>`.

"No value" as Nmbrs writes it: `-` in a period the employee was not paid, and an empty value (report)
or `-` (payslip) for a component of the company's wage model that the employee does not get (the
pension lines of a company without pension).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal
from xml.sax.saxutils import escape

from pipelines.sandbox.model import Company, Employee, EmployeePeriod, RunInfo
from pipelines.sandbox.wages import DESCRIPTIONS

PERIOD_REPORT_ROOT = "ReportCompanyEmployeeWageComponent"  # modeled: no public source names the root
PAYSLIP_REPORT_ROOT = "payslips"  # modeled
PENSION_CODES = ("4100", "5100")
# The payslip group of each code (Nmbrs's group values: Bruto, Loonheffingen, Netto, Totalen, ...).
GROUPS = {
    "1000": "Bruto",
    "1100": "Bruto",
    "4000": "Loonheffingen",
    "4100": "WerknemerVerzekering",
    "4200": "WerknemerVerzekering",
    "5000": "Other",
    "5100": "Other",
    "9000": "Netto",
    "9900": "Totalen",
    "9910": "Totalen",
}
COMPONENT_GUID_NAMESPACE = uuid.UUID("0c5a4d1e-7b8f-4f5c-9a3e-2d6b1c8e4f70")
EMPTY_COLUMNS = "<betaling/><tabel/><bt/><svw/><svwbt/><werkgever/><cumulative/>"


def format_value(value: Decimal, decimal_comma: bool) -> str:
    text = f"{value:.2f}"
    return text.replace(".", ",") if decimal_comma else text


def declaration(with_bom: bool) -> str:
    return ("\ufeff" if with_bom else "") + '<?xml version="1.0" encoding="utf-16"?>'


class _Amounts:
    """Formats amounts; `hostile` replaces the first one (fault injection: a value outside the grammar)."""

    def __init__(self, decimal_comma: bool, hostile: str | None):
        self.decimal_comma = decimal_comma
        self.hostile = hostile

    def __call__(self, value: Decimal) -> str:
        if self.hostile is not None:
            text, self.hostile = self.hostile, None
            return escape(text)
        return format_value(value, self.decimal_comma)


def wage_component_report(
    company: Company,
    year: int,
    rows: Iterable[EmployeePeriod],
    staff: dict[int, Employee],
    run_number: Callable[[int, int], int],
    *,
    decimal_comma: bool = False,
    with_bom: bool = False,
    hostile_value: str | None = None,
) -> str:
    """The accountant wage-component report of a company-year; `run_number(period, employee_id)` is
    the run that last set an employee's amounts of a period."""
    amounts = _Amounts(decimal_comma, hostile_value)
    by_employee: dict[int, dict[int, dict[str, Decimal]]] = defaultdict(dict)
    descriptions: dict[str, str] = {}
    for row in rows:
        by_employee[row.employee_id][row.period] = {line.code: line.value for line in row.lines}
        descriptions.update((line.code, line.description) for line in row.lines)
    periods = sorted({period for lines in by_employee.values() for period in lines})
    parts = [
        declaration(with_bom),
        f"<{PERIOD_REPORT_ROOT}><CompanyID>{company.id}</CompanyID><CompanyName>{escape(company.name)}"
        f"</CompanyName><CompanyNumber>{company.number}</CompanyNumber><PeriodType>{company.period_type}"
        "</PeriodType><EmployeesList>",
    ]
    for employee_id in sorted(by_employee):
        paid = by_employee[employee_id]
        employee = staff[employee_id]
        codes = {code for lines in paid.values() for code in lines}
        unpaid_codes = set() if company.has_pension else set(PENSION_CODES)
        parts.append(
            f"<Employees><EmployeeID>{employee_id}</EmployeeID><EmployeeName>"
            f"{escape(employee.display_name)}</EmployeeName><EmployeeNumber>{employee.number}"
            "</EmployeeNumber><WageComponentsList>"
        )
        for code in sorted(codes | unpaid_codes):
            cumulative = sum((lines.get(code, Decimal("0.00")) for lines in paid.values()), Decimal("0.00"))
            parts.append(
                f"<WageComponents><ComponentGuid>{uuid.uuid5(COMPONENT_GUID_NAMESPACE, code)}</ComponentGuid>"
                f"<ComponentNumber>{code}</ComponentNumber><ComponentName>"
                f"{escape(descriptions.get(code, DESCRIPTIONS[code]))}</ComponentName><CumulativeValue>"
                f"{format_value(cumulative, decimal_comma)}</CumulativeValue><Values>"
            )
            for period in periods:
                if period not in paid:
                    text = "-"
                elif code in paid[period]:
                    text = amounts(paid[period][code])
                else:
                    text = ""
                parts.append(
                    f"<Value><ComponentValue>{text}</ComponentValue><Period>{period}</Period>"
                    f"<Run>{run_number(period, employee_id)}</Run></Value>"
                )
            parts.append("</Values></WageComponents>")
        parts.append("</WageComponentsList></Employees>")
    parts.append(f"</EmployeesList></{PERIOD_REPORT_ROOT}>")
    return "".join(parts)


def payslip_report(
    company: Company,
    run: RunInfo,
    rows: Iterable[EmployeePeriod],
    staff: dict[int, Employee],
    *,
    decimal_comma: bool = False,
    with_bom: bool = False,
    hostile_value: str | None = None,
) -> str:
    """The payslips of one run: per employee and period, the run's lines (a correction: its differences)."""
    amounts = _Amounts(decimal_comma, hostile_value)
    parts = [declaration(with_bom), f"<{PAYSLIP_REPORT_ROOT}>"]
    for row in rows:
        employee = staff[row.employee_id]
        gross = sum((line.value for line in row.lines if GROUPS.get(line.code) == "Bruto"), Decimal("0.00"))
        parts.append(
            f"<payslip><employeeid>{row.employee_id}</employeeid><employeename>"
            f"{escape(employee.display_name)}</employeename><period>{row.period}</period>"
            f"<year>{row.year}</year><run>{run.number}</run><header><headerItem><key>Bedrijf</key>"
            f"<value>{escape(company.name)}</value></headerItem><headerItem><key>Periode</key>"
            f"<value>{row.period}/{row.year}</value></headerItem></header><lines>"
        )
        for line in row.lines:
            parts.append(_payslip_line(line.code, line.description, amounts(line.value)))
        if run.type == "regular" and not company.has_pension:
            parts.extend(_payslip_line(code, DESCRIPTIONS[code], "-") for code in PENSION_CODES)
        parts.append(
            "</lines><reservations/><leave_list/><footer><footerItem><key>Fiscaalloon</key>"
            f"<value>{format_value(gross, decimal_comma)}</value></footerItem></footer></payslip>"
        )
    parts.append(f"</{PAYSLIP_REPORT_ROOT}>")
    return "".join(parts)


def _payslip_line(code: str, description: str, value: str) -> str:
    return (
        f"<line><code>{code}</code><description>{escape(description)}</description><group>{GROUPS[code]}"
        f"</group><amount/><value>{value}</value>{EMPTY_COLUMNS}</line>"
    )
