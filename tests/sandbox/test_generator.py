"""The generated payroll world: deterministic, arithmetically exact, calendars, corrections, ERP files, truth."""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from pipelines.sandbox import erp
from pipelines.sandbox.calendars import period_end, period_month, period_start
from pipelines.sandbox.scenarios import build_config
from pipelines.sandbox.truth import Truth
from pipelines.sandbox.wages import DEDUCTION_CODES
from pipelines.sandbox.world import SandboxError, World

AS_OF = dt.date(2026, 11, 24)
MAPPING_CSV = Path(__file__).resolve().parents[2] / "mappings" / "wage_component_gl_mapping.csv"


def snapshot(world: World) -> list:
    data = []
    for company in world.companies():
        data.append(company)
        data.extend(world.employees(company.id))
        for year in world.years(company.id):
            runs = world.runs(company.id, year)
            data.extend(runs)
            data.extend(world.period_report(company.id, year))
            data.extend(row for run in runs for row in world.payslips(run))
    return data


def test_same_seed_gives_identical_data_and_another_seed_differs():
    first = snapshot(World(build_config("demo", 42, as_of=AS_OF)))
    assert first == snapshot(World(build_config("demo", 42, as_of=AS_OF)))
    other = snapshot(World(build_config("demo", 7, as_of=AS_OF)))
    assert other != first
    assert len(first) > 700


@pytest.mark.parametrize("seed", [42, 7, 2024])
def test_net_is_gross_minus_deductions_for_every_employee_and_period(seed):
    world = World(build_config("demo", seed, as_of=AS_OF))
    checked = 0
    for company in world.companies():
        for year in world.years(company.id):
            for row in world.period_report(company.id, year):
                values = {line.code: line.value for line in row.lines}
                gross = values["1000"] + values["1100"]
                assert values["9000"] == gross - sum(values.get(c, Decimal(0)) for c in DEDUCTION_CODES)
                assert values["9900"] == gross
                assert values["9910"] == values["5000"] + values.get("5100", Decimal(0))
                assert values["1100"] == (values["1000"] * Decimal("0.08")).quantize(Decimal("0.01"))
                assert all(v == v.quantize(Decimal("0.01")) and v > 0 for v in values.values())
                assert ("4100" in values) == company.has_pension == ("5100" in values)
                checked += 1
    assert checked > 200


def test_week4_salary_is_monthly_times_12_over_13():
    world = World(build_config("demo", 42, as_of=AS_OF))
    employee = world.employees(102)[1]
    row = next(r for r in world.period_report(102, 2025) if r.employee_id == employee.id)
    salary = next(line.value for line in row.lines if line.code == "1000")
    assert salary == (employee.monthly_salary * 12 / 13).quantize(Decimal("0.01"))


def test_current_year_has_runs_only_for_periods_ended_before_as_of():
    world = World(build_config("demo", 42, as_of=AS_OF))
    assert [r.period_start for r in world.runs(101, 2026)] == list(
        range(1, 11)
    )  # October ended before Nov 24
    assert [r.period_start for r in world.runs(102, 2026)] == list(range(1, 12))  # period 11 ends Nov 1
    assert all(period_end("Week4", 2026, r.period_start) < AS_OF for r in world.runs(102, 2026))


def test_week4_calendar_follows_iso_weeks():
    assert period_start("Week4", 2025, 1) == dt.date(2024, 12, 30)  # Monday of ISO week 1 of 2025
    assert period_end("Week4", 2025, 1) == dt.date(2025, 1, 26)
    assert period_end("Week4", 2025, 13) == dt.date(2025, 12, 28)
    assert period_end("Week4", 2026, 13) == dt.date(2027, 1, 3)  # ISO 2026 has 53 weeks
    assert period_month("Week4", 2026, 13) == (2027, 1)  # the month containing the end date
    assert period_month("Month", 2025, 2) == (2025, 2)


def test_employees_join_and_leave():
    world = World(build_config("demo", 42, as_of=AS_OF))
    for company in world.companies():
        staff = world.employees(company.id)
        periods_paid = {
            e.id: {
                (r.year, r.period)
                for y in (2025, 2026)
                for r in world.period_report(company.id, y)
                if r.employee_id == e.id
            }
            for e in staff
        }
        joiner, leaver = staff[-1], staff[-2]
        assert (joiner.start_year, joiner.start_period) > (2025, 1)
        assert min(periods_paid[joiner.id]) == (joiner.start_year, joiner.start_period)
        assert leaver.end_year == 2025
        assert max(periods_paid[leaver.id]) == (leaver.end_year, leaver.end_period)


def test_payslips_summed_over_runs_equal_the_corrected_period_report():
    world = World(build_config("demo", 42, as_of=AS_OF))
    world.correct_period(103, 2026, 2, delta=Decimal("-75.25"))
    for company in world.companies():
        for year in world.years(company.id):
            slips: dict = defaultdict(Decimal)
            for run in world.runs(company.id, year):
                for row in world.payslips(run):
                    for line in row.lines:
                        slips[(row.period, row.employee_id, line.code)] += line.value
            report = {
                (r.period, r.employee_id, line.code): line.value
                for r in world.period_report(company.id, year)
                for line in r.lines
            }
            assert {k: v for k, v in slips.items() if v} == report


def test_correct_period_changes_only_that_period_and_shows_deltas():
    world = World(build_config("demo", 42, as_of=AS_OF))
    before = {(r.period, r.employee_id): r.lines for r in world.period_report(101, 2026)}
    employee = world.employees(101)[2].id
    run = world.correct_period(101, 2026, 4, employee_id=employee, delta=Decimal("200.00"))
    assert (run.type, run.period_start, run.number) == ("correction", 4, 11)
    after = {(r.period, r.employee_id): r.lines for r in world.period_report(101, 2026)}
    changed = [key for key in before if before[key] != after[key]]
    assert changed == [(4, employee)]
    slip = world.payslips(run)
    assert [(r.employee_id, r.period) for r in slip] == [(employee, 4)]
    assert {line.code: line.value for line in slip[0].lines}["1000"] == Decimal("200.00")
    with pytest.raises(SandboxError, match="has no run"):
        world.correct_period(101, 2026, 12)


def test_add_run_adds_the_next_period_and_nothing_else():
    world = World(build_config("demo", 42, as_of=AS_OF))
    rows_before = len(world.period_report(101, 2026))
    run = world.add_run(101)
    assert (run.year, run.period_start, run.number, run.type) == (2026, 11, 11, "regular")
    runs = world.runs(101, 2026)
    assert runs[-1].id == run.id and not runs[-1].locked and all(r.locked for r in runs[:-1])
    paid = [e for e in world.employees(101) if e.employed_in(2026, 11)]
    assert len(world.period_report(101, 2026)) == rows_before + len(paid)
    world.add_run(101)
    nxt = world.add_run(101)
    assert (nxt.year, nxt.period_start, nxt.number) == (2027, 1, 1)


def test_demo_erp_files_hold_the_three_deliberate_differences(tmp_path):
    config = build_config("demo", 42, as_of=AS_OF)
    target = erp.write_erp_files(tmp_path, config)
    with (target / "chart_of_accounts.csv").open() as handle:
        chart = list(csv.DictReader(handle))
    assert {row["statement"] for row in chart} == {"PL", "BS"}
    assert {"1100", "8000", "4011"} <= {row["account"] for row in chart}
    with (target / "gl_movements.csv").open() as handle:
        movements = {
            (r["entity"], r["account"], int(r["year"]), int(r["month"])): Decimal(r["amount"])
            for r in csv.DictReader(handle)
        }
    truth = Truth(World(config))
    differences = {(d.entity, d.account, d.year, d.month): d for d in truth.erp_differences}
    assert set(differences) == {
        ("NL01", "4000", 2025, 6),
        ("NL02", "4100", 2025, 3),
        ("NL03", "4200", 2025, 12),
    }
    assert differences[("NL01", "4000", 2025, 6)].difference == Decimal("-100.00")
    assert differences[("NL02", "4100", 2025, 3)].kind == "missing_in_erp"
    assert ("NL02", "4100", 2025, 3) not in movements
    assert movements[("NL03", "4200", 2025, 12)] == Decimal("250.00")
    gl = truth.gl()
    for (entity, account, year, month), amount in movements.items():
        key = (int(entity[2:]) + 100, year, month, account)
        if (entity, account, year, month) not in differences:
            assert gl[key] == amount
    # every month balances: debits equal credits
    per_month: dict = defaultdict(Decimal)
    for (cid, year, month, _), amount in gl.items():
        per_month[(cid, year, month)] += amount
    assert set(per_month.values()) == {Decimal("0.00")}


def test_runs_added_while_serving_show_as_missing_in_erp():
    world = World(build_config("demo", 42, as_of=AS_OF))
    world.add_run(103)
    added = [d for d in Truth(world).erp_differences if d.year == 2026 and d.month == 11]
    assert added and {d.kind for d in added} == {"missing_in_erp"} and {d.entity for d in added} == {"NL03"}


def test_sandbox_mapping_matches_the_repository_default_mapping():
    with MAPPING_CSV.open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["hidden"] != "true"]
    expected = defaultdict(set)
    for row in rows:
        expected[(int(row["company_id"]) if row["company_id"] else None, row["wage_component_code"])].add(
            (row["gl_account"], int(row["sign"]))
        )
    for (company, code), targets in expected.items():
        assert set(erp.mapping_for(company or 101, code)) == targets, (company, code)


def test_ensure_demo_erp_files_writes_once_into_the_given_folder(tmp_path):
    folder = erp.ensure_demo_erp_files(tmp_path / "erp")
    stamp = (folder / "gl_movements.csv").stat().st_mtime_ns
    assert erp.ensure_demo_erp_files(tmp_path / "erp") == folder
    assert (folder / "gl_movements.csv").stat().st_mtime_ns == stamp


def test_truth_totals_are_exact_and_filterable():
    truth = Truth(World(build_config("demo", 42, as_of=AS_OF)))
    by_period = truth.totals_by_period("wage_components", 101, 2025)
    assert sum(by_period.values()) == truth.total("wage_components", 101, 2025)
    assert truth.total("payslips", 101, 2025) == truth.total("wage_components", 101, 2025)
    assert truth.rows("payroll_runs", 101, 2025) == 13
    assert truth.rows("rest_fixed_wage_components", 101, 2025) == truth.rows(
        "wage_components", 101, 2025, code="1000"
    )
    assert truth.to_dict(101, 2025)["tables"]["payslips"]["by_company_year"]["101/2025"]["rows"] > 0


def test_scale_scenario_is_lazy_and_quick():
    import time

    start = time.monotonic()
    world = World(build_config("scale", 1, as_of=AS_OF))
    assert len(world.companies()) == 200
    report = world.period_report(150, 2025)
    assert len({r.employee_id for r in report}) >= 90
    assert time.monotonic() - start < 5
    assert len(world._employees) == 1  # only the company asked for was generated


def test_unknown_scenario_or_knob_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown sandbox scenario 'big'"):
        build_config("big")
    with pytest.raises(ValueError, match="unknown sandbox knob.*colour"):
        build_config("demo", colour="red")
