"""The analyst's loop on the synced demo: a removed row fails the check, `suggest` appends it, a
filled-in row passes. Plus the CI workflow that runs the same check on pull requests."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipelines.lib.mapping.files import MAPPING_FILE
from pipelines.lib.settings import PROJECT_ROOT
from tests.support.mapping import run_payroll

NETTOLOON = ",9000,Nettoloon,BS,1600,false,-1"


def _check(mappings: Path, *extra: str):
    return run_payroll("mapping", "check", "--mappings-dir", str(mappings), *extra)


def test_project_mapping_passes_on_the_synced_demo(demo_warehouse_url, mappings_copy):
    result = _check(mappings_copy, "--source", "warehouse")
    assert result.exit_code == 0, result.output
    assert "erp.chart_of_accounts in" in result.output
    assert "ok    Unmapped wage components" in result.output


def test_removed_row_fails_then_suggest_and_filled_in_account_pass(demo_warehouse_url, mappings_copy):
    path = mappings_copy / MAPPING_FILE
    original = path.read_text(encoding="utf-8")
    assert NETTOLOON + "\n" in original
    path.write_text(original.replace(NETTOLOON + "\n", ""), encoding="utf-8")
    without_row = path.read_bytes()
    new_line = without_row.count(b"\n") + 1

    failed = _check(mappings_copy)
    assert failed.exit_code == 1, failed.output
    assert "FAIL  Unmapped wage components (3)" in failed.output
    unmapped = [line.split() for line in failed.output.splitlines() if " 9000 " in line]
    assert [(fields[0], fields[-2], fields[-1]) for fields in unmapped] == [
        ("101", "Nettoloon", unmapped[0][-1]),
        ("102", "Nettoloon", unmapped[1][-1]),
        ("103", "Nettoloon", unmapped[2][-1]),
    ]
    assert all(len(fields[-1]) == 7 and fields[-1][4] == "-" for fields in unmapped)  # first period YYYY-PP

    suggested = run_payroll("mapping", "suggest", "--mappings-dir", str(mappings_copy))
    assert suggested.exit_code == 0, suggested.output
    content = path.read_bytes()
    assert content.startswith(without_row)  # append only: every existing byte unchanged
    assert content[len(without_row) :] == b",9000,Nettoloon,,,false,\n"  # one row for all companies
    assert f"line {new_line}: all companies, code 9000 'Nettoloon'" in suggested.output

    pending = _check(mappings_copy)
    assert pending.exit_code == 1
    assert "ok    Unmapped wage components" in pending.output
    assert f"{path}, line {new_line}, column 5 (gl_account): gl_account is empty" in pending.output

    path.write_bytes(content.replace(b",9000,Nettoloon,,,false,\n", b",9000,Nettoloon,BS,9999,false,-1\n"))
    wrong = _check(mappings_copy)
    assert wrong.exit_code == 1
    assert (
        f"{path}, line {new_line}, column 5 (gl_account): account 9999 is not in the ERP chart"
        in wrong.output
    )

    path.write_bytes(content.replace(b",9000,Nettoloon,,,false,\n", (NETTOLOON + "\n").encode()))
    passed = _check(mappings_copy)
    assert passed.exit_code == 0, passed.output
    assert "The mapping is complete and consistent." in passed.output


def test_suggest_with_nothing_missing_leaves_the_file_alone(demo_warehouse_url, mappings_copy):
    before = (mappings_copy / MAPPING_FILE).read_bytes()
    result = run_payroll("mapping", "suggest", "--mappings-dir", str(mappings_copy))
    assert result.exit_code == 0
    assert "nothing appended" in result.output
    assert (mappings_copy / MAPPING_FILE).read_bytes() == before


def test_ci_workflow_runs_the_check_on_mapping_pull_requests():
    workflow = yaml.safe_load((PROJECT_ROOT / ".github/workflows/mapping.yml").read_text())
    assert "mappings/**" in workflow[True]["pull_request"]["paths"]  # YAML 1.1 reads `on` as True
    job = workflow["jobs"]["check"]
    assert job["services"]["postgres"]["image"].startswith("postgres:")
    commands = [step["run"] for step in job["steps"] if "run" in step]
    assert "payroll mapping check --source files" in commands
    assert "payroll mapping check --source warehouse" in commands
    assert any(c.startswith("dbt test") and "resource_type:seed" in c for c in commands)
    for command in commands:
        if command.startswith("payroll "):
            help_result = run_payroll(*command.split()[1:], "--help")
            assert help_result.exit_code == 0, f"the workflow runs {command!r}, which the CLI does not accept"
