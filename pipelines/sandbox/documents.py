"""The files behind `/api/documents/{taskId}`: a payroll run's output and its journals, as XML.

- Run output (`/runs/{payrollRunId}/wagecodes/xml`): the calculated wage components per employee
  per period of the run: the same lines as the SOAP payslip report of that run (a correction run
  holds the differences it made), so summing the run outputs of a year gives the period report.
  Its layout is not public: **modeled** here and parsed in pipelines/lib/nmbrs/documents.py.
- Journals (`/runs/{payrollRunId}/journals` and the variants): the layout Nmbrs documents,
  `transactions/transaction/header{date, period}/lines/line{dim1, dim2, dim3, value, debitcredit,
  description}`. dim1 is the account as set up in Nmbrs (ledger.py), dim2 the cost centre,
  department or employee number by variant, dim3 the cost unit (none in the sandbox). One
  transaction per period of the run; every transaction balances (debit = credit).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal

from lxml import etree

from pipelines.sandbox import orgstructure
from pipelines.sandbox.calendars import period_end
from pipelines.sandbox.ledger import nmbrs_accounts
from pipelines.sandbox.model import Company, Employee, EmployeePeriod, RunInfo
from pipelines.sandbox.rest_ids import RestIds


def _text(parent: etree._Element, name: str, value: object) -> etree._Element:
    element = etree.SubElement(parent, name)
    element.text = "" if value is None else str(value)
    return element


def _xml(root: etree._Element) -> str:
    return etree.tostring(root, xml_declaration=True, encoding="utf-8").decode("utf-8")


def run_output_xml(
    ids: RestIds,
    company: Company,
    run: RunInfo,
    rows: Iterable[EmployeePeriod],
    codes: frozenset[str] | None = None,
) -> str:
    """The run output of one run; `codes` limits it to those wage codes (the `wageCodes` filter)."""
    staff = {e.id: e for e in ids.world.employees(company.id)}
    root = etree.Element("runoutput")
    _text(root, "companyid", ids.company(company))
    _text(root, "companynumber", company.number)
    _text(root, "payrollrunid", run.payroll_run_id)
    _text(root, "runnumber", run.number)
    _text(root, "year", run.year)
    employees = etree.SubElement(root, "employees")
    by_employee: dict[int, list[EmployeePeriod]] = defaultdict(list)
    for row in rows:
        by_employee[row.employee_id].append(row)
    for employee_id, periods in sorted(by_employee.items()):
        item = etree.SubElement(employees, "employee")
        _text(item, "employeeid", ids.employee(staff[employee_id]))
        _text(item, "employeenumber", staff[employee_id].number)
        periods_element = etree.SubElement(item, "periods")
        for row in sorted(periods, key=lambda r: (r.year, r.period)):
            period = etree.SubElement(periods_element, "period")
            _text(period, "year", row.year)
            _text(period, "number", row.period)
            wagecodes = etree.SubElement(period, "wagecodes")
            for line in row.lines:
                if codes is not None and line.code not in codes:
                    continue
                wagecode = etree.SubElement(wagecodes, "wagecode")
                _text(wagecode, "code", line.code)
                _text(wagecode, "description", line.description)
                _text(wagecode, "value", f"{line.value:.2f}")
    return _xml(root)


def _dimension(variant: str, company: Company, first_year: int) -> Callable[[Employee, int, int], str]:
    if variant == "journalsemployee":
        return lambda employee, year, period: str(employee.number)
    if variant == "journalsdepartment":
        return lambda employee, year, period: (
            orgstructure.at(orgstructure.departments(company, employee, first_year), year, period).code
        )
    if variant == "journalscostcenter":
        return lambda employee, year, period: (
            orgstructure.at(orgstructure.cost_centres(company, employee), year, period).code
        )
    return lambda employee, year, period: ""


def journal_xml(
    ids: RestIds,
    company: Company,
    rows: Iterable[EmployeePeriod],
    variant: str,
    unbalanced_by: Decimal | None = None,
) -> str:
    """The journal of one run (its payslip lines booked on Nmbrs's accounts), in one variant;
    `unbalanced_by` (the `journal_unbalanced` fault) raises the first line by that amount."""
    config = ids.world.config
    staff = {e.id: e for e in ids.world.employees(company.id)}
    dimension = _dimension(variant, company, config.first_year)
    # (year, period) -> (code, account, dim2, side) -> [description, amount]
    books: dict[tuple[int, int], dict[tuple[str, str, str, str], list]] = defaultdict(dict)
    for row in rows:
        dim2 = dimension(staff[row.employee_id], row.year, row.period)
        for line in row.lines:
            for account, sign in nmbrs_accounts(config, company.id, line.code, row.year, row.period):
                amount = line.value * sign
                if amount == 0:
                    continue
                side = "debit" if amount > 0 else "credit"
                entry = books[(row.year, row.period)].setdefault(
                    (line.code, account, dim2, side), [line.description, Decimal("0.00")]
                )
                entry[1] += abs(amount)
    root = etree.Element("transactions")
    for (year, period), lines in sorted(books.items()):
        transaction = etree.SubElement(root, "transaction")
        header = etree.SubElement(transaction, "header")
        _text(header, "date", period_end(company.period_type, year, period).isoformat())
        _text(header, "period", f"{period}/{year}")
        lines_element = etree.SubElement(transaction, "lines")
        for index, ((_, account, dim2, side), (description, amount)) in enumerate(sorted(lines.items())):
            line = etree.SubElement(lines_element, "line", id=str(index))
            _text(line, "dim1", account)
            _text(line, "dim2", dim2)
            _text(line, "dim3", "")
            if unbalanced_by is not None and index == 0 and transaction is root[0]:
                amount += unbalanced_by
            _text(line, "value", f"{amount:.2f}")
            _text(line, "debitcredit", side)
            _text(line, "description", description)
    return _xml(root)
