"""The mapping files' checks before dbt: nothing builds on a mapping that `payroll mapping check`
refuses, and the refusal carries the check's messages (file, line, column, fix).

dbt reads mappings/ as seeds in the same build as the marts. A seed it cannot parse (cp1252, a BOM
with `;`, a NUL byte) used to abort the build with a traceback naming no file, and an account
missing from the ERP chart used to fail a test after `marts.dim_wage_components` had been rebuilt
while the fact marts kept the old mapping. Two callers run these checks first:
- the dbt asset (pipelines/defs/dbt/assets.py), before it starts dbt, on every path that builds
  the marts: `payroll sync`, `payroll backfill`, the sensors and schedules, a materialization in the
  UI. No seed or model is touched, so the marts keep the previous mapping, all of them;
- `payroll sync` (pipelines/app/sync.py), before anything else (before the definitions load, since
  loading them parses the dbt project), so that a bad mapping does not cost an extraction either.

Checked here: both files' format, duplicate keys, statements, rows to fill in, and every account
against the ERP chart (the warehouse's erp.chart_of_accounts, else the chart file of
PAYROLL_ERP_DIR, as `payroll mapping check` takes it). Not here: wage components without a mapping
row, which dbt's blocking completeness test handles (it stops the marts built on them).
"""

from __future__ import annotations

from pathlib import Path

from pipelines.lib import settings, warehouse
from pipelines.lib.mapping import checks, sources
from pipelines.lib.mapping.csvfile import FORMAT, Problem

STEP_NAME = "mapping files"
SYNC_OUTCOME = "so nothing was synced, dbt did not run and every mart keeps the previous mapping"
DBT_OUTCOME = "so dbt did not start: no seed or model was touched and every mart keeps the previous mapping"
SYNC_AGAIN = "run `payroll sync` again"
PARSE_OUTCOME = (
    "so dbt cannot parse the project and no run can build the marts (they keep the previous mapping)"
)
RELOAD = "reload the code location (or run `payroll sync`)"
MATERIALIZE_AGAIN = "re-execute the run (or run `payroll sync`)"


def mapping_problems(
    database_url: str, mappings_dir: Path | None = None, *, unparsable_only: bool = False
) -> list[Problem]:
    """What `payroll mapping check` would report about the files themselves (no synced-data checks).
    `unparsable_only`: just the problems that stop dbt from parsing the project at all (encoding, NUL
    bytes, BOM, delimiter: kind `format`), for a sync without dbt, which still loads the project."""
    chart, chart_source = None, None
    conn = warehouse.connect(database_url)
    try:
        chart = sources.warehouse_chart(conn)
        chart_source = f"erp.chart_of_accounts in {settings.redacted_url(database_url)}" if chart else None
    finally:
        conn.close()
    if chart is None:
        chart, chart_source, _erp_notes = sources.chart_file_reference(None)  # ERP problems: the ERP step's
    reference = sources.Reference(chart, chart_source, None, None)
    problems = checks.check(mappings_dir or settings.MAPPINGS_DIR, reference).problems
    return [p for p in problems if p.kind == FORMAT] if unparsable_only else problems


def unparsable_problems(mappings_dir: Path | None = None) -> list[Problem]:
    """The problems that stop `dbt parse` itself (encoding, NUL bytes, BOM, delimiter: kind `format`),
    read from the files alone (no warehouse): for a parse that failed while the definitions load."""
    reference = sources.Reference(None, None, None, None)
    problems = checks.check(mappings_dir or settings.MAPPINGS_DIR, reference).problems
    return [p for p in problems if p.kind == FORMAT]


def refusal(problems: list[Problem], outcome: str = SYNC_OUTCOME, again: str = SYNC_AGAIN) -> str:
    """The one-line error: every problem (file, line, column, what to do), then the fix. `outcome`
    says what did not happen (the sync's or the dbt asset's), `again` what to run after the fix."""
    listed = "; ".join(str(problem) for problem in problems)
    return (
        f"{len(problems)} problem(s) in the mapping files, {outcome}: {listed}. Fix: correct them, check "
        f"with `payroll mapping check`, then {again}"
    )
