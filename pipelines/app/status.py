"""`collect()`: the pipeline's state read from the Dagster instance and the warehouse.

- Last sync per company: the newest materialization of its company-year assets (a sync that finds
  a partition unchanged still records one, so this is when Nmbrs was last read for it), and the
  company-years whose latest finished run failed.
- Failing checks: the latest evaluation of every asset check the definitions declare (per
  partition for partitioned checks) that did not pass.
- Open differences: the rows of the reconciliation marts that are not `matched`.
- The source mode and, while SOAP is in use, the day Nmbrs retires it.
The clock is a parameter (`now`), so that freshness can be tested on any day.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable

import dagster as dg
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.events import DagsterEventType
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)
from psycopg2 import sql

from pipelines.app.sync import step_error_text
from pipelines.defs import keys
from pipelines.defs.nmbrs.partitions import split_company_year
from pipelines.lib import settings, warehouse
from pipelines.lib.automation_settings import AutomationSettings
from pipelines.lib.nmbrs.config import SOAP_SUNSET, NmbrsSettings
from pipelines.lib.status_report import (
    LISTED_DIFFERENCES,
    CompanySync,
    FailedRun,
    FailingCheck,
    OpenDifference,
    PipelineStatus,
    Reconciliation,
)

GL_RECONCILIATION = "marts.payroll_gl_reconciliation"
THREE_WAY_RECONCILIATION = "marts.payroll_three_way_reconciliation"  # once the journals are reconciled
DIFFERENCE_COLUMNS = ("erp_entity", "year", "month", "gl_account", "difference", "status")
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]
RUNS_PER_COMPANY = 100  # the newest finished runs read per company: enough for every year partition


def collect(now: dt.datetime | None = None) -> PipelineStatus:
    """The status now (or at `now`, timezone-aware). Raises ConfigurationError (WarehouseUnavailable
    included) when the settings are wrong or the warehouse cannot be reached."""
    settings.prepare_environment()
    conn = warehouse.connect(os.environ["PAYROLL_DATABASE_URL"])
    try:
        with conn.cursor() as cur:
            names = _company_names(cur)
            reconciliations = _reconciliations(cur)
    finally:
        conn.close()
    now = now or dt.datetime.now(dt.UTC)
    automation = AutomationSettings.from_env()
    nmbrs = NmbrsSettings.from_env()

    from pipelines.definitions import defs

    graph = defs().resolve_asset_graph()
    with dg.DagsterInstance.get() as instance:
        companies = _companies(instance, names)
        failing = _failing_checks(instance, graph)
    return PipelineStatus(
        now=now,
        timezone=automation.timezone,
        stale_after=dt.timedelta(days=automation.stale_after_days),
        source_mode=nmbrs.source_mode,
        demo=nmbrs.demo,
        soap_sunset=SOAP_SUNSET if nmbrs.uses_soap else None,
        companies=tuple(companies),
        checks=len(graph.asset_check_keys),
        failing_checks=tuple(failing),
        reconciliations=tuple(reconciliations),
    )


def _companies(instance: dg.DagsterInstance, names: list[tuple[str, str]]) -> list[CompanySync]:
    """Every company the warehouse holds, with its last sync and its failed company-years."""
    syncs = _last_syncs(instance)
    result = []
    for company_id, name in names:
        last_sync, partitions = syncs.get(company_id, (None, set()))
        result.append(
            CompanySync(
                company_id=company_id,
                name=name,
                last_sync=last_sync,
                company_years=len(partitions),
                failed_runs=tuple(_failed_runs(instance, company_id)),
            )
        )
    return result


def _company_names(cur) -> list[tuple[str, str]]:
    if not _exists(cur, "nmbrs.companies"):
        return []
    cur.execute("select company_id, name from nmbrs.companies order by company_id")
    return [(str(company_id), name or "") for company_id, name in cur.fetchall()]


def _last_syncs(instance: dg.DagsterInstance) -> dict[str, tuple[dt.datetime, set[str]]]:
    """company -> (newest materialization of its company-year assets, the partitions materialized)."""
    result: dict[str, tuple[dt.datetime, set[str]]] = {}
    for key in keys.COMPANY_YEAR_ASSETS:
        latest = instance.get_latest_storage_id_by_partition(key, DagsterEventType.ASSET_MATERIALIZATION)
        if not latest:
            continue
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, storage_ids=list(latest.values())), limit=len(latest)
        ).records
        for record in records:
            company_id = str(split_company_year(record.partition_key)[0])
            moment = dt.datetime.fromtimestamp(record.timestamp, dt.UTC)
            newest, partitions = result.get(company_id, (moment, set()))
            partitions.add(record.partition_key)
            result[company_id] = (max(newest, moment), partitions)
    return result


def _failed_runs(instance: dg.DagsterInstance, company_id: str) -> Iterable[FailedRun]:
    """The company-years of this company whose latest finished run failed."""
    seen: set[str] = set()
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags={keys.COMPANY_TAG: company_id}, statuses=FINISHED), limit=RUNS_PER_COMPANY
    )
    for record in records:  # newest first
        partition = record.dagster_run.tags.get(keys.PARTITION_TAG, "")
        if partition in seen:
            continue
        seen.add(partition)
        if record.dagster_run.status == dg.DagsterRunStatus.FAILURE:
            ended = record.end_time or record.create_timestamp.timestamp()
            yield FailedRun(
                partition=partition,
                run_id=record.dagster_run.run_id,
                ended_at=dt.datetime.fromtimestamp(ended, dt.UTC),
                error=_run_error(instance, record.dagster_run.run_id),
            )


def _run_error(instance: dg.DagsterInstance, run_id: str) -> str:
    """The first failed step's error, on one line (the Dagster UI shows the whole event log)."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        data = entry.dagster_event.step_failure_data
        user = data.user_failure_data
        text = user.description if user is not None and user.description else step_error_text(data.error)
        return text.splitlines()[0] if text else "the step failed"
    return "the run failed before its steps ran"


def _failing_checks(instance: dg.DagsterInstance, graph) -> list[FailingCheck]:
    keys = sorted(graph.asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name))
    partitioned = [key for key in keys if graph.get_check_spec(key).partitions_def is not None]
    unpartitioned = [key for key in keys if key not in set(partitioned)]
    storage = instance.event_log_storage
    failed: list[AssetCheckExecutionRecord] = [
        record
        for record in storage.get_latest_asset_check_execution_by_key(unpartitioned).values()
        if record.status == AssetCheckExecutionRecordStatus.FAILED
    ]
    for info in storage.get_asset_check_partition_info(partitioned):
        if info.latest_execution_status != AssetCheckExecutionRecordStatus.FAILED:
            continue
        latest = storage.get_latest_asset_check_execution_by_key(
            [info.check_key], partition_filter=PartitionKeyFilter(key=info.partition_key)
        )
        if info.check_key in latest:
            failed.append(latest[info.check_key])
    return [_failing_check(record, graph.get_check_spec(record.key).description) for record in failed]


def _failing_check(record: AssetCheckExecutionRecord, check_description: str | None) -> FailingCheck:
    evaluation = record.event.dagster_event.event_specific_data
    description = evaluation.description or check_description or "failed"
    failed_rows = evaluation.metadata.get("dagster_dbt/failed_row_count")
    if failed_rows is not None:
        description = f"{description} ({failed_rows.value} failing rows)"
    return FailingCheck(
        asset=record.key.asset_key.to_user_string(),
        check=record.key.name,
        partition=record.partition,
        severity=evaluation.severity.value,
        description=description,
        evaluated_at=dt.datetime.fromtimestamp(record.create_timestamp, dt.UTC),
    )


def _reconciliations(cur) -> list[Reconciliation]:
    """The GL reconciliation (built or not) and, where it exists, the three-way reconciliation."""
    result = [_reconciliation(cur, GL_RECONCILIATION)]
    if _exists(cur, THREE_WAY_RECONCILIATION):
        result.append(_reconciliation(cur, THREE_WAY_RECONCILIATION))
    return result


def _exists(cur, relation: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (relation,))
    return cur.fetchone()[0]


def _reconciliation(cur, relation: str) -> Reconciliation:
    if not _exists(cur, relation):
        return Reconciliation(mart=relation, built=False)
    table = warehouse.table_sql(relation)
    cur.execute(
        sql.SQL("select status, count(*) from {} where status <> 'matched' group by status").format(table)
    )
    counts = dict(cur.fetchall())
    largest: tuple[OpenDifference, ...] = ()
    if set(DIFFERENCE_COLUMNS) <= _columns(cur, relation):
        cur.execute(
            sql.SQL(
                "select erp_entity, year, month, gl_account, difference, status from {} "
                "where status <> 'matched' order by abs(difference) desc, erp_entity, year, month, gl_account "
                "limit %s"
            ).format(table),
            (LISTED_DIFFERENCES,),
        )
        largest = tuple(OpenDifference(*row) for row in cur.fetchall())
    return Reconciliation(mart=relation, built=True, open_by_status=counts, largest=largest)


def _columns(cur, relation: str) -> set[str]:
    schema, name = warehouse.split_table(relation)
    cur.execute(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
        (schema, name),
    )
    return {row[0] for row in cur.fetchall()}
