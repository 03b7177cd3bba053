"""The ERP's chart of accounts and monthly GL movements, from CSV files in PAYROLL_ERP_DIR into `erp.*`.

Each file is streamed into its table in one transaction, validated row by row as the COPY reads it.
A bad file (or one that would empty the ERP side or shrink it by more than half, unless allowed)
fails the asset with the file's own message (file, line, column, fix), and the table keeps its rows.
"""

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from pipelines.lib import erp, settings, warehouse


def _erp_file(context: dg.AssetExecutionContext, name: str) -> Path | None:
    folder = erp.erp_dir()
    if folder is None:
        context.log.warning(erp.NO_ERP_WARNING)
        return None
    return folder / name


@contextmanager
def _erp_refusals(table: str) -> Iterator[None]:
    """A refused ERP file fails the step with its own message (the traceback stays in the log)."""
    try:
        yield
    except (erp.ErpFileError, warehouse.WarehouseLoadError) as exc:
        refusal = exc.__cause__ if isinstance(exc, warehouse.WarehouseLoadError) else exc
        if not isinstance(refusal, erp.ErpFileError):
            raise
        kept = (
            ""
            if isinstance(refusal, erp.ErpShrinkRefused)
            else f". Nothing was loaded: {table} keeps its rows"
        )
        raise dg.Failure(description=f"{refusal}{kept}", allow_retries=False) from refusal


def _replace_table(
    table: str, columns: Sequence[str], rows: Iterable[tuple], source: Path | None, run_id: str
) -> int:
    conn = warehouse.connect(settings.database_url())
    try:
        warehouse.ensure_raw_schema(conn)
        conn.commit()
        label = source.name if source else "none"
        guard = erp.ReplacementGuard(table, source, allowed=settings.erp_allow_shrink())
        return warehouse.replace_partition(
            conn, table, {}, columns, rows, source=label, run_id=run_id, before_commit=guard.check
        )
    finally:
        conn.close()


@dg.asset(
    key=["erp", "chart_of_accounts"],
    group_name="erp",
    kinds={"csv", "postgres"},
    description="The ERP chart of accounts (account, name, statement PL/BS) from chart_of_accounts.csv.",
)
def chart_of_accounts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    with _erp_refusals("erp.chart_of_accounts"):
        path = _erp_file(context, erp.CHART_FILE)
        accounts = erp.read_chart_of_accounts(path) if path else []
        rows = [(a.account, a.name, a.statement) for a in accounts]
        loaded = _replace_table("erp.chart_of_accounts", erp.CHART_COLUMNS, rows, path, context.run_id)
    return dg.MaterializeResult(
        metadata={
            "rows": loaded,
            "file": dg.MetadataValue.path(str(path)) if path else "none (PAYROLL_ERP_DIR not set)",
            "pl_accounts": sum(a.statement == "PL" for a in accounts),
            "bs_accounts": sum(a.statement == "BS" for a in accounts),
        }
    )


@dg.asset(
    key=["erp", "gl_movements"],
    group_name="erp",
    kinds={"csv", "postgres"},
    description="Monthly GL movements per ERP entity and account (debit positive) from gl_movements.csv.",
)
def gl_movements(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    entities: set[str] = set()
    years: set[int] = set()

    def rows(path: Path) -> Iterator[tuple]:
        for m in erp.iter_gl_movements(path):
            entities.add(m.entity)
            years.add(m.year)
            yield (m.entity, m.account, m.year, m.month, m.amount)

    with _erp_refusals("erp.gl_movements"):
        path = _erp_file(context, erp.MOVEMENTS_FILE)
        loaded = _replace_table(
            "erp.gl_movements", erp.MOVEMENT_COLUMNS, rows(path) if path else [], path, context.run_id
        )
    return dg.MaterializeResult(
        metadata={
            "rows": loaded,
            "file": dg.MetadataValue.path(str(path)) if path else "none (PAYROLL_ERP_DIR not set)",
            "entities": len(entities),
            "years": ", ".join(str(y) for y in sorted(years)),
        }
    )
