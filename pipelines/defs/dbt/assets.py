"""`dbt build` as Dagster assets: seeds, staging, intermediate and marts, with dbt tests as asset checks.

Before dbt starts, the mapping files must pass the checks of `payroll mapping check`
(pipelines/lib/mapping/gate.py): otherwise the asset fails with their messages and no seed or model
is touched, on every path that builds the marts (sync, backfill, sensors, schedules, the UI).

A run that carries company-year partition tags (a sensor-triggered run of one Nmbrs partition plus
everything downstream) passes them to dbt as the environment variables PAYROLL_SLICE_COMPANY_ID and
PAYROLL_SLICE_YEAR (pipelines/lib/dbt_slice.py, read by macros/company_year_slice.sql), so the incremental marts
rebuild only that slice. Not as `--vars`: dbt parses the whole project again whenever the vars
differ from those of its saved parse state, while a changed environment variable re-parses only the
files that read it, so the slice run keeps the partial parse of the last full build.
"""

import functools
import importlib.metadata
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from packaging import version

from pipelines.defs import keys
from pipelines.defs.dbt.project import dbt_project, keep_parse_state
from pipelines.defs.dbt.translator import PayrollDbtTranslator
from pipelines.defs.resources import WarehouseResource
from pipelines.lib import logs, settings
from pipelines.lib.dbt_slice import dbt_slice_environment
from pipelines.lib.mapping import gate as mapping_gate

COMPLETENESS_CHECK_PREFIX = "wage_components_are_all_mapped"
_MAX_LISTED = 20


def slice_vars(tags: Mapping[str, str]) -> dict[str, int] | None:
    """dbt vars for the run's company-year partition, or None for a full build."""
    company, year = tags.get(keys.COMPANY_TAG), tags.get(keys.YEAR_TAG)
    if company is None and year is None:
        return None
    if company is None or year is None or not company.isdigit() or not year.isdigit():
        raise dg.Failure(
            description=(
                f"dbt build: the run's partition tags {keys.COMPANY_TAG}={company!r} and {keys.YEAR_TAG}={year!r} "
                "must both be whole numbers (Nmbrs company id and year). Fix: launch the run for a "
                "company-year partition, or without partition tags for a full build"
            )
        )
    return {"company_id": int(company), "year": int(year)}


UNMAPPED_COLUMNS = (
    "company_id",
    "wage_component_code",
    "wage_component_description",
    "first_year",
    "first_period",
)


def unmapped_components(warehouse: WarehouseResource) -> list[dict[str, Any]]:
    """The rows of marts.unmapped_wage_components (company and code only; no personal data)."""
    rows = warehouse.fetch_all(
        f"select {', '.join(UNMAPPED_COLUMNS)} from marts.unmapped_wage_components "  # noqa: S608 - fixed names
        "order by company_id, wage_component_code"
    )
    return [dict(zip(UNMAPPED_COLUMNS, row, strict=True)) for row in rows]


def describe_unmapped(rows: list[dict[str, Any]]) -> str:
    listed = "; ".join(
        f"company {r['company_id']} code {r['wage_component_code']} ({r['wage_component_description']}, "
        f"first seen {r['first_year']} period {r['first_period']})"
        for r in rows[:_MAX_LISTED]
    )
    more = f" and {len(rows) - _MAX_LISTED} more" if len(rows) > _MAX_LISTED else ""
    return (
        f"{len(rows)} wage component(s) have no GL mapping: {listed}{more}. Fix: add a row per component "
        "to mappings/wage_component_gl_mapping.csv (or mark it hidden), see mappings/README.md; "
        "`payroll mapping suggest` appends them for you"
    )


def _with_unmapped_listed(event: Any, warehouse: WarehouseResource) -> Any:
    if not (
        isinstance(event, dg.AssetCheckResult)
        and not event.passed
        and event.check_name.startswith(COMPLETENESS_CHECK_PREFIX)
    ):
        return event
    rows = unmapped_components(warehouse)
    return dg.AssetCheckResult(
        passed=False,
        asset_key=event.asset_key,
        check_name=event.check_name,
        severity=event.severity,
        metadata={
            **event.metadata,
            "unmapped": dg.MetadataValue.md(
                "\n".join(
                    f"- company {r['company_id']}, code {r['wage_component_code']}: "
                    f"{r['wage_component_description']}"
                    for r in rows
                )
            ),
            "unmapped_count": len(rows),
        },
        description=describe_unmapped(rows),
    )


@dbt_assets(
    manifest=dbt_project().manifest_path,
    project=dbt_project(),
    dagster_dbt_translator=PayrollDbtTranslator(),
    name="payroll_dbt",
    pool=keys.DBT_POOL,
)
def payroll_dbt(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    refuse_bad_mappings(warehouse)
    settings.export_dbt_profile(warehouse.database_url)
    # Plain text: dbt's lines go to log files (`payroll demo`'s demo.log, the kept dbt.log).
    args = ["build", "--no-use-colors"]
    run_slice = slice_vars(context.run.tags)
    if run_slice is not None:
        context.log.info(f"dbt build of company {run_slice['company_id']}, year {run_slice['year']}")
    completeness_failed = False
    succeeded = False
    with dbt_slice_environment(run_slice):
        # dbt starts here (the events are streamed below); the slice's variables reach it only.
        invocation = dbt.cli(args, context=context, raise_on_error=False)
    try:
        for event in invocation.stream():
            event = _with_unmapped_listed(event, warehouse)
            if isinstance(event, dg.AssetCheckResult) and event.description and not event.passed:
                completeness_failed = completeness_failed or event.check_name.startswith(
                    COMPLETENESS_CHECK_PREFIX
                )
            yield event
        error = None if invocation.is_successful() else str(invocation.get_error())
        succeeded = error is None
        if run_slice is None:
            # The parse state of a full build: the next build, full (the next sync) or a slice (the
            # next sensor run), parses partially.
            keep_parse_state(invocation.target_path)
    finally:
        # A failed (or interrupted) build's dbt.log is kept: the target folder holding it goes next.
        kept_log = None if succeeded else logs.keep_failed_dbt_log(invocation.target_path, context.run_id)
        # Each invocation gets its own target folder; its events are streamed, so drop it (no unbounded growth).
        shutil.rmtree(invocation.target_path, ignore_errors=True)
    if error is not None:
        reason = describe_unmapped(unmapped_components(warehouse)) if completeness_failed else error
        raise dg.Failure(
            description=f"dbt build failed: {_pointing_at(reason, invocation.target_path, kept_log)}"
        )


def refuse_bad_mappings(warehouse: WarehouseResource) -> None:
    """Fail before dbt starts when the mapping files fail `payroll mapping check`'s file checks: a
    seed dbt cannot parse, or an account not in the ERP chart, would otherwise rebuild some marts
    (dim_wage_components) and skip others (the fact marts)."""
    problems = mapping_gate.mapping_problems(warehouse.database_url)
    if problems:
        raise dg.Failure(
            description=mapping_gate.refusal(
                problems, mapping_gate.DBT_OUTCOME, mapping_gate.MATERIALIZE_AGAIN
            ),
            metadata={"problems": dg.MetadataValue.md("\n".join(f"- {problem}" for problem in problems))},
        )


def _pointing_at(reason: str, target_path: Path, kept_log: Path | None) -> str:
    """The failure text with dbt's log path (in the deleted target folder) replaced by the kept copy."""
    deleted = str(target_path / "dbt.log")
    if kept_log is None:
        return reason.replace(f", or view the dbt debug log: {deleted}", "")
    if deleted in reason:
        return reason.replace(deleted, str(kept_log))
    return f"{reason} (dbt log: {kept_log})"


DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))


@functools.cache
def _installed_dbt_version() -> version.Version:
    return version.parse(importlib.metadata.version("dbt-core"))


class PayrollDbtCliResource(DbtCliResource):
    """dagster-dbt's resource with two per-run costs removed:
    - the dbt version is known: DBT_EXECUTABLE is the dbt of this interpreter's dbt-core, so the
      `dbt --version` subprocess dagster-dbt runs in every run (the resource is built anew per run;
      1-2 s on a busy machine) is not needed;
    - no in-process dbt adapter: dagster-dbt builds one (loading the dbt project, profile and the
      PostgreSQL adapter, about 1 s) before every `dbt build`, only for
      `fetch_column_metadata()` and `fetch_row_counts()`, which this project does not call (the
      column schema comes from the manifest, see translator.py). dagster-dbt goes on without an
      adapter when building one fails; None is that path."""

    @property
    def _cli_version(self) -> version.Version:
        return _installed_dbt_version()

    def _initialize_dbt_core_adapter(self, args):  # noqa: ANN001, ANN202 (dagster-dbt's own signature)
        return None


defs = dg.Definitions(
    assets=[payroll_dbt],
    resources={"dbt": PayrollDbtCliResource(project_dir=dbt_project(), dbt_executable=DBT_EXECUTABLE)},
)
