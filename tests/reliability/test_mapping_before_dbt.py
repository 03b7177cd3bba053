"""Issue 16, item 7: `payroll sync`, and the dbt asset on every path, run the checks of
`payroll mapping check` before dbt.

The project's mapping file (mappings/wage_component_gl_mapping.csv, which dbt seeds) is spoiled the
ways analysts spoil it: saved as Windows-1252, with a byte-order mark and `;`, with a NUL byte, with
an account the ERP chart does not have. For each, `payroll mapping check` and `payroll sync` agree:
both exit 1 and the sync's line holds every message of the check (file, line, column, fix). No step
runs (the dbt project is parsed when the definitions load, so the check comes first), no dbt node, so every mart (dim_wage_components and the fact marts alike) keeps the previous mapping.
The dbt asset itself refuses too (pipelines/lib/mapping/gate.py), so the paths that do not go through
`payroll sync` (the schedules' and backfills' runs, sensors, a materialization in the UI) cannot
half-update the marts either: the weekly rebuild job, executed in process, fails at the dbt step with
the check's messages, before dbt touches a seed (schema staging) or a mart.
The file is restored byte for byte after each case.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import dagster as dg
import pytest

from pipelines.defs import keys
from pipelines.lib.mapping.files import MAPPING_FILE
from pipelines.lib.settings import MAPPINGS_DIR, temporary_env
from pipelines.sandbox.erp import ensure_demo_erp_files
from tests.support.dbt import copy_project
from tests.support.definitions import definitions
from tests.support.pipeline import HASHED_SCHEMAS, PAYROLL, differing, record_figure

pytestmark = pytest.mark.reliability

MAPPING = MAPPINGS_DIR / MAPPING_FILE


def _cp1252(data: bytes) -> bytes:
    return data.replace(b",Salaris,", ",Salaris \u20ac,".encode("cp1252"), 1)


def _bom_and_semicolons(data: bytes) -> bytes:
    return b"\xef\xbb\xbf" + data.replace(b",", b";")


def _nul_byte(data: bytes) -> bytes:
    return data.replace(b",Salaris,", b",Sala\x00ris,", 1)


def _unknown_account(data: bytes) -> bytes:
    return data.replace(b",1000,Salaris,PL,4000,", b",1000,Salaris,PL,4999,", 1)


CASES: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "cp1252": (_cp1252, "is not UTF-8; save the file as UTF-8"),
    "bom and semicolons": (_bom_and_semicolons, "byte order mark (BOM)"),
    "nul byte": (_nul_byte, "a NUL byte (0x00)"),
    "account not in the chart": (_unknown_account, "account 4999 is not in the ERP chart"),
}


def _run(pipeline, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PAYROLL, *args],
        env=pipeline.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture
def spoil_mapping():
    original = MAPPING.read_bytes()

    def spoil(damage: Callable[[bytes], bytes]) -> None:
        MAPPING.write_bytes(damage(original))

    try:
        yield spoil
    finally:
        MAPPING.write_bytes(original)


def _check_problems(check: subprocess.CompletedProcess) -> list[str]:
    """The problems `payroll mapping check` lists (the indented lines under a FAIL heading; a WARN
    heading's lines, such as the comparison with Nmbrs's journals, are not problems), each with its
    file and line."""
    problems, failing = [], False
    for line in check.stdout.splitlines():
        if line.startswith("    "):
            if failing and not line.strip().startswith("fix:"):
                problems.append(line.strip())
        elif line.strip():
            failing = line.startswith("FAIL ")
    return problems


@pytest.mark.parametrize("case", list(CASES))
def test_sync_refuses_a_mapping_the_check_refuses_before_any_dbt_node(reference, spoil_mapping, case):
    damage, message = CASES[case]
    pipeline = reference.pipeline
    spoil_mapping(damage)
    check = _run(pipeline, "mapping", "check")
    started = time.monotonic()
    sync = _run(pipeline, "sync", "--company", "103")
    seconds = time.monotonic() - started
    assert check.returncode == 1, check.stdout[-3000:]
    problems = _check_problems(check)
    assert problems and any(message in problem for problem in problems), check.stdout[-3000:]
    output = sync.stdout + sync.stderr
    assert sync.returncode == 1, output[-3000:]
    failed = [line for line in sync.stderr.splitlines() if line.startswith("FAILED ")]
    assert len(failed) == 1 and failed[0].startswith("FAILED mapping files: "), output[-3000:]
    line = failed[0]
    for problem in problems:  # the same messages as the check, each with its file and line
        assert problem in line, f"{problem!r} not in {line!r}"
    assert "wage_component_gl_mapping.csv, line" in line
    assert "nothing was synced, dbt did not run and every mart keeps the previous mapping" in line
    assert "Traceback" not in output and "syntax error" not in output
    assert ": running" not in sync.stdout  # no step started, so no dbt node either
    assert differing(pipeline.hashes(), reference.hashes) == []  # raw tables and every mart unchanged
    record_figure(
        "16_7_mapping_before_dbt", **{case: f"check and sync exit 1, marts unchanged, {seconds:.0f} s"}
    )


SEEDS_AND_MARTS = (*HASHED_SCHEMAS, "staging")  # the seeds (mappings/) are tables in staging


@pytest.mark.parametrize("case", list(CASES))
def test_the_dbt_asset_refuses_before_dbt_on_the_schedules_path(reference, spoil_mapping, case):
    damage, message = CASES[case]
    pipeline = reference.pipeline
    before = pipeline.hashes(SEEDS_AND_MARTS)
    assert any(name.startswith("staging.") for name in before)  # the seeds are hashed too
    with (
        pipeline.active(),
        temporary_env({"PAYROLL_ERP_DIR": str(ensure_demo_erp_files())}),
    ):  # the sync's ERP
        job = definitions().resolve_job_def(keys.REBUILD_JOB)  # the weekly schedule's job
        spoil_mapping(damage)
        check = _run(pipeline, "mapping", "check")
        started = time.monotonic()
        with dg.DagsterInstance.ephemeral() as instance:
            outcome = job.execute_in_process(instance=instance, raise_on_error=False)
        seconds = time.monotonic() - started
    problems = _check_problems(check)
    assert check.returncode == 1 and any(message in problem for problem in problems), check.stdout[-3000:]
    assert not outcome.success
    failures = outcome.get_step_failure_events()
    assert [event.step_key for event in failures] == ["payroll_dbt"]
    described = failures[0].step_failure_data.user_failure_data.description
    assert described.startswith(
        f"{len(problems)} problem(s) in the mapping files, so dbt did not start: no seed"
    )
    for problem in problems:  # the same messages as the check, each with its file and line
        assert problem in described, f"{problem!r} not in {described!r}"
    assert "Fix: correct them, check with `payroll mapping check`" in described
    assert outcome.asset_materializations_for_node("payroll_dbt") == []
    assert {event.asset_key.path[-1] for event in outcome.get_asset_materialization_events()} == {
        "chart_of_accounts",
        "gl_movements",
    }  # the ERP import ran (same files, same rows); dbt did not
    assert differing(pipeline.hashes(SEEDS_AND_MARTS), before) == []  # seeds, marts and raw unchanged
    record_figure(
        "16_7_mapping_before_dbt",
        **{
            f"dbt asset, {case}": f"rebuild job fails at payroll_dbt before dbt, seeds and marts unchanged, {seconds:.1f} s"
        },
    )


def test_a_mapping_dbt_cannot_parse_fails_the_definitions_load_with_the_checks_message(reference, tmp_path):
    """A run the daemon launches (sensor, schedule, backfill) loads the definitions in a new process,
    which parses the dbt project: a cp1252 seed fails that parse. The error names the file, the line
    and the column, as the check does, instead of dbt's UnicodeDecodeError."""
    from pipelines.defs.dbt.project import DbtParseError, prepare_manifest

    project = copy_project(tmp_path)
    mapping = project.parent / "mappings" / MAPPING_FILE
    mapping.write_bytes(_cp1252(mapping.read_bytes()))
    with reference.pipeline.active(), pytest.raises(DbtParseError) as raised:
        prepare_manifest(project, project.parent / "mappings")
    text = str(raised.value)
    assert text.startswith("1 problem(s) in the mapping files, so dbt cannot parse the project"), text
    assert f"{MAPPING_FILE}, line 2" in text and CASES["cp1252"][1] in text, text
    assert (
        "UnicodeDecodeError" not in text and "Fix: correct them, check with `payroll mapping check`" in text
    )
    assert not (project / "target" / "manifest.json").exists()


def test_the_dbt_asset_refuses_before_dbt_on_the_sensors_and_backfills_path(reference, spoil_mapping):
    """`nmbrs_company_year_sync`, the job the new-runs sensor and `payroll backfill` launch per
    company-year: the Nmbrs load runs (nothing changed, so nothing is written), then the dbt slice is
    refused before dbt starts, with the check's message, and the seeds and marts stay as they were."""
    pipeline = reference.pipeline
    year = pipeline.query("select max(year) from nmbrs.payroll_runs where company_id = 103")[0][0]
    before = pipeline.hashes(SEEDS_AND_MARTS)
    with pipeline.active():
        job = definitions().resolve_job_def(keys.COMPANY_YEAR_JOB)
        spoil_mapping(_unknown_account)
        with dg.DagsterInstance.ephemeral() as instance:
            instance.add_dynamic_partitions("nmbrs_companies", ["101", "102", "103"])
            outcome = job.execute_in_process(
                instance=instance, partition_key=f"103|{year}", raise_on_error=False
            )
    assert not outcome.success
    failures = outcome.get_step_failure_events()
    assert [event.step_key for event in failures] == ["payroll_dbt"]
    described = failures[0].step_failure_data.user_failure_data.description
    assert "so dbt did not start: no seed or model was touched" in described
    assert (
        "wage_component_gl_mapping.csv, line 2, column 5 (gl_account): account 4999 is not in the ERP chart"
        in described
    )
    assert outcome.asset_materializations_for_node("payroll_dbt") == []
    assert differing(pipeline.hashes(SEEDS_AND_MARTS), before) == []
