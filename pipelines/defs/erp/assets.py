"""The ERP's chart of accounts and monthly GL movements, from CSV files in PAYROLL_ERP_DIR into `erp.*`.

Each file is read and validated completely, then its table is replaced in one transaction.
"""

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from pipelines.lib import erp, settings, warehouse


def _erp_file(context: dg.AssetExecutionContext, name: str) -> Path | None:
    folder = erp.erp_dir()
    if folder is None:
        context.log.warning(erp.NO_ERP_WARNING)
        return None
    return folder / name


def _replace_table(
    table: str, columns: Sequence[str], rows: list[tuple], source: Path | None, run_id: str
) -> int:
    conn = warehouse.connect(settings.database_url())
    try:
        warehouse.ensure_raw_schema(conn)
        conn.commit()
        label = source.name if source else "none"
        return warehouse.replace_partition(conn, table, {}, columns, rows, source=label, run_id=run_id)
    finally:
        conn.close()


@dg.asset(
    key=["erp", "chart_of_accounts"],
    group_name="erp",
    kinds={"csv", "postgres"},
    description="The ERP chart of accounts (account, name, statement PL/BS) from chart_of_accounts.csv.",
)
def chart_of_accounts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
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
    path = _erp_file(context, erp.MOVEMENTS_FILE)
    movements = erp.read_gl_movements(path) if path else []
    rows = [(m.entity, m.account, m.year, m.month, m.amount) for m in movements]
    loaded = _replace_table("erp.gl_movements", erp.MOVEMENT_COLUMNS, rows, path, context.run_id)
    return dg.MaterializeResult(
        metadata={
            "rows": loaded,
            "file": dg.MetadataValue.path(str(path)) if path else "none (PAYROLL_ERP_DIR not set)",
            "entities": len({m.entity for m in movements}),
            "years": ", ".join(str(y) for y in sorted({m.year for m in movements})),
        }
    )
