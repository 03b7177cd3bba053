"""Report content: the XML document carried as escaped text in Reports_BackgroundTask_ResultResult/Content.

Shape: <reports><report><employeeid/><period/><year/>[<runid/>]<lines><line><code/><description/>
<value/></line>…</lines></report>…</reports>. Payslip reports add <runid> to each report.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from xml.sax.saxutils import escape

from pipelines.sandbox.model import EmployeePeriod


def format_value(value: Decimal, decimal_comma: bool) -> str:
    text = f"{value:.2f}"
    return text.replace(".", ",") if decimal_comma else text


def report_xml(rows: Iterable[EmployeePeriod], decimal_comma: bool = False, run_id: int | None = None) -> str:
    parts = ['<?xml version="1.0" encoding="utf-8"?><reports>']
    for row in rows:
        parts.append(
            f"<report><employeeid>{row.employee_id}</employeeid><period>{row.period}</period>"
            f"<year>{row.year}</year>"
        )
        if run_id is not None:
            parts.append(f"<runid>{run_id}</runid>")
        parts.append("<lines>")
        for line in row.lines:
            parts.append(
                f"<line><code>{escape(line.code)}</code><description>{escape(line.description)}"
                f"</description><value>{format_value(line.value, decimal_comma)}</value></line>"
            )
        parts.append("</lines></report>")
    parts.append("</reports>")
    return "".join(parts)
