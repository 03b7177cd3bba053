"""`payroll export journal`: balanced entries from our mapping, as CSV and XLSX, for an ERP that does
not receive Nmbrs's journal."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.lib import journal_export

ZERO = Decimal("0.00")


def run(*args: str):
    return CliRunner().invoke(main, ["export", "journal", *args], catch_exceptions=False)


def _csv(path) -> list[dict]:
    rows = pd.read_csv(path, dtype=str, keep_default_na=False).to_dict(orient="records")
    for row in rows:
        row["debit"], row["credit"] = Decimal(row["debit"]), Decimal(row["credit"])
    return rows


def test_a_month_is_exported_balanced_per_entity_as_csv_and_xlsx(demo_warehouse_url, query, tmp_path):
    (year,) = query("select min(year) from marts.fct_payroll_lines where company_id = 101")[0]
    result = run("--month", f"{year}-09", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    stem = f"journal_{year}-09"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{stem}.csv", f"{stem}.xlsx"]
    rows = _csv(tmp_path / f"{stem}.csv")
    assert list(rows[0]) == [c.name for c in journal_export.COLUMNS]
    debit = sum((r["debit"] for r in rows), ZERO)
    credit = sum((r["credit"] for r in rows), ZERO)
    assert debit == credit > 0
    assert f"debit {debit:,.2f} = credit {credit:,.2f}" in result.output
    for entity in {r["entity"] for r in rows}:
        mine = [r for r in rows if r["entity"] == entity]
        assert sum((r["debit"] - r["credit"] for r in mine), ZERO) == 0, entity
    assert {r["date"] for r in rows} == {dt.date(year, 9, 30).isoformat()}  # the month's last day
    # Each line is what our mapping posts on the account that month, to the cent.
    expected = {
        (str(company), account): amount
        for company, account, amount in query(
            "select company_id, gl_account, sum(signed_amount) from marts.fct_payroll_lines "
            "where not is_hidden and calendar_year = %s and calendar_month = 9 group by 1, 2",
            (year,),
        )
        if amount != 0
    }
    booked: dict[tuple[str, str], Decimal] = {}
    for r in rows:
        key = (r["company_id"], r["account"])
        booked[key] = booked.get(key, ZERO) + r["debit"] - r["credit"]
    assert booked == expected
    # Costs (P&L) are split by cost centre as Nmbrs's cost-centre journal splits them; what is owed is not.
    costs = {r["account"] for r in rows if r["account"].startswith("4")}
    assert costs and all(r["cost_centre"] for r in rows if r["account"] in costs)
    assert not any(r["cost_centre"] for r in rows if r["account"] not in costs)
    assert len({r["cost_centre"] for r in rows if r["account"] in costs}) >= 2
    assert all((r["debit"] == 0) != (r["credit"] == 0) for r in rows)  # one side per line
    workbook = openpyxl.load_workbook(tmp_path / f"{stem}.xlsx")
    sheet = workbook["Journal entries"]
    header = [cell.value for cell in sheet[1]]
    values = [
        dict(zip(header, (cell.value for cell in row), strict=True)) for row in sheet.iter_rows(min_row=2)
    ]
    assert len(values) == len(rows)
    assert sum(Decimal(str(v["debit"])) for v in values) == debit


def test_one_run_is_exported_with_its_own_lines_on_its_date(demo_warehouse_url, query, tmp_path):
    [(run_id, run_at, number)] = query(
        "select run_id, run_at, run_number from nmbrs.payroll_runs where company_id = 101 "
        "and run_type = 'correction' order by year limit 1"
    )
    result = run("--run", run_id, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.glob("*.csv")
    rows = _csv(path)
    assert {r["date"] for r in rows} == {run_at.date().isoformat()}
    assert {r["company_id"] for r in rows} == {"101"}
    assert sum((r["debit"] - r["credit"] for r in rows), ZERO) == 0
    assert all(f"Payroll run {number} " in r["description"] for r in rows)
    (salary,) = query(
        "select sum(amount) from marts.fct_payslip_lines where run_id = %s and wage_component_code = '1000'",
        (run_id,),
    )[0]
    assert {r["account"]: r["debit"] - r["credit"] for r in rows}["4000"] == salary


def test_unbalanced_entries_are_refused_before_anything_is_written(tmp_path):
    rows = [
        (dt.date(2025, 9, 30), "NL01", 101, "4000", "Salarissen", Decimal("10.00"), ZERO, None, "x"),
        (dt.date(2025, 9, 30), "NL01", 101, "1600", "Netto", ZERO, Decimal("9.99"), None, "x"),
    ]
    with pytest.raises(journal_export.JournalExportError, match=r"NL01 2025-09-30: debit - credit = 0\.01"):
        journal_export._check_balanced(rows, "month 2025-09")
    assert list(tmp_path.iterdir()) == []


def test_run_or_month_is_required_and_a_bad_month_is_named(demo_warehouse_url, tmp_path):
    result = run("--out", str(tmp_path))
    assert result.exit_code != 0 and "exactly one of --run RUN_ID or --month YYYY-MM" in result.output
    result = run("--month", "09-2025", "--out", str(tmp_path))
    assert result.exit_code != 0 and "is not a month such as 2025-09" in result.output
    result = run("--run", "no-such-run", "--out", str(tmp_path))
    assert result.exit_code != 0 and "no payroll lines for run no-such-run" in result.output
    assert list(tmp_path.iterdir()) == []
