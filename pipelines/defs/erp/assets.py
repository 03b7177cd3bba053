"""The ERP's chart of accounts and monthly GL movements, from CSV files in PAYROLL_ERP_DIR into `erp.*`.

Each file is read and validated completely, then its table is replaced in one transaction.
"""

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from pipelines.defs import keys
from pipelines.defs.resources import WarehouseResource
from pipelines.lib import erp
from pipelines.lib.warehouse import replace_partition

KINDS = {"csv", "postgres"}


def _erp_file(context: dg.AssetExecutionContext, name: str) -> Path | None:
    folder = erp.erp_dir()
    if folder is None:
        context.log.warning(erp.NO_ERP_WARNING)
        return None
    return folder / name


def _replace_table(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    table: str,
    columns: Sequence[str],
    rows: list[tuple],
    path: Path | None,
    **facts: object,
) -> dg.MaterializeResult:
    """Replace the whole table by the rows of one file; the metadata names the file, plus `facts`."""
    with warehouse.connect() as conn:
        source = path.name if path else "none"
        loaded = replace_partition(conn, table, {}, columns, rows, source=source, run_id=context.run_id)
    file = dg.MetadataValue.path(str(path)) if path else "none (PAYROLL_ERP_DIR not set)"
    return dg.MaterializeResult(metadata={"rows": loaded, "file": file, **facts})


@dg.asset(
    key=keys.CHART_OF_ACCOUNTS,
    group_name=keys.ERP_GROUP,
    kinds=KINDS,
    description="The ERP chart of accounts (account, name, statement PL/BS) from chart_of_accounts.csv.",
)
def chart_of_accounts(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    path = _erp_file(context, erp.CHART_FILE)
    accounts = erp.read_chart_of_accounts(path) if path else []
    rows = [(a.account, a.name, a.statement) for a in accounts]
    return _replace_table(
        context,
        warehouse,
        "erp.chart_of_accounts",
        erp.CHART_COLUMNS,
        rows,
        path,
        pl_accounts=sum(a.statement == "PL" for a in accounts),
        bs_accounts=sum(a.statement == "BS" for a in accounts),
    )


@dg.asset(
    key=keys.GL_MOVEMENTS,
    group_name=keys.ERP_GROUP,
    kinds=KINDS,
    description="Monthly GL movements per ERP entity and account (debit positive) from gl_movements.csv.",
)
def gl_movements(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    path = _erp_file(context, erp.MOVEMENTS_FILE)
    movements = erp.read_gl_movements(path) if path else []
    rows = [(m.entity, m.account, m.year, m.month, m.amount) for m in movements]
    return _replace_table(
        context,
        warehouse,
        "erp.gl_movements",
        erp.MOVEMENT_COLUMNS,
        rows,
        path,
        entities=len({m.entity for m in movements}),
        years=", ".join(str(y) for y in sorted({m.year for m in movements})),
    )
