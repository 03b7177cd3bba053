"""The first import: a Dagster asset backfill of the company_year partitions and everything downstream.

The backfill is an ordinary Dagster backfill (it shows on the UI's Backfills page) of every asset:
the daemon's backfill loop first runs the unpartitioned reference assets (environment, companies,
employees), then one run per company-year of the Nmbrs payroll assets, then one run of the ERP files
and the unpartitioned dbt assets. dbt therefore builds once per backfill, never concurrently with
itself on the same temporary tables (and the one-slot `dbt_build` pool keeps other runs' dbt steps
out of its way).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dagster as dg
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.utils import make_new_backfill_id

from pipelines.defs import keys
from pipelines.defs.nmbrs.partitions import company_year_key, registered_companies

BACKFILL_TAG = "payroll/first_import"
TERMINAL = {
    BulkActionStatus.COMPLETED,
    BulkActionStatus.COMPLETED_SUCCESS,
    BulkActionStatus.COMPLETED_FAILED,
    BulkActionStatus.FAILED,
    BulkActionStatus.CANCELED,
}
BACKFILL_DAEMON = "BACKFILL"
DAEMON_FRESH_SECONDS = 90


@dataclass(frozen=True)
class BackfillProgress:
    backfill_id: str
    status: str
    target: int
    materialized: int
    failed: int
    runs_in_progress: int

    @property
    def done(self) -> bool:
        return BulkActionStatus(self.status) in TERMINAL

    @property
    def succeeded(self) -> bool:
        return self.status in {BulkActionStatus.COMPLETED_SUCCESS.value, BulkActionStatus.COMPLETED.value}

    def line(self) -> str:
        return (
            f"backfill {self.backfill_id}: {self.status.lower()}; {self.materialized}/{self.target} "
            f"asset partitions materialized, {self.failed} failed, {self.runs_in_progress} run(s) in progress"
        )


def partition_keys(companies: Sequence[str], years: Sequence[int]) -> list[str]:
    return [str(company_year_key(company, year)) for company in companies for year in years]


def submit_first_import(
    instance: dg.DagsterInstance, defs: dg.Definitions, years: Sequence[int], title: str
) -> str:
    """Submit the backfill of every registered company × `years`; returns the backfill id."""
    companies = registered_companies(instance)
    if not companies:
        raise RuntimeError(
            "submitting the first import found no Nmbrs companies. Fix: check the Nmbrs connection "
            "with `payroll doctor`; the companies are discovered from Nmbrs before the backfill starts"
        )
    asset_graph = defs.resolve_asset_graph()
    backfill_id = make_new_backfill_id()
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=backfill_id,
        asset_graph=asset_graph,
        partition_names=partition_keys(companies, years),
        asset_selection=sorted(dg.AssetSelection.all().resolve(asset_graph)),
        backfill_timestamp=time.time(),
        tags={
            BACKFILL_TAG: f"{min(years)}-{max(years)}",
            **keys.run_tags(keys.STARTED_BY_BACKFILL, title),
        },
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=title,
        description=f"Nmbrs companies {', '.join(companies)} for {min(years)}-{max(years)}, and the marts",
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill_id


def progress(instance: dg.DagsterInstance, backfill_id: str) -> BackfillProgress:
    backfill = instance.get_backfill(backfill_id)
    if backfill is None:
        raise RuntimeError(f"backfill {backfill_id} does not exist on this Dagster instance")
    data = backfill.asset_backfill_data
    in_progress = instance.get_runs_count(
        dg.RunsFilter(tags={"dagster/backfill": backfill_id}, statuses=list(keys.UNFINISHED))
    )
    return BackfillProgress(
        backfill_id=backfill_id,
        status=backfill.status.value,
        target=data.target_subset.num_partitions_and_non_partitioned_assets,
        materialized=data.materialized_subset.num_partitions_and_non_partitioned_assets,
        failed=data.failed_and_downstream_subset.num_partitions_and_non_partitioned_assets,
        runs_in_progress=in_progress,
    )


def wait_for(
    instance: dg.DagsterInstance,
    backfill_id: str,
    timeout_seconds: float,
    report: Callable[[BackfillProgress], None],
    poll_seconds: float = 5.0,
) -> BackfillProgress:
    """Poll until the backfill ends or the timeout passes, reporting each change of progress."""
    deadline = time.monotonic() + timeout_seconds
    last = None
    while True:
        current = progress(instance, backfill_id)
        if current != last:
            report(current)
            last = current
        if current.done or time.monotonic() >= deadline:
            return current
        time.sleep(poll_seconds)


def cancel(instance: dg.DagsterInstance, backfill_id: str) -> None:
    """Cancel the backfill: the daemon launches nothing more of it, and its runs in progress are
    terminated (their steps are interrupted, so their loads roll back)."""
    backfill = instance.get_backfill(backfill_id)
    if backfill is not None and backfill.status not in TERMINAL:
        instance.update_backfill(backfill.with_status(BulkActionStatus.CANCELING))
    # The daemon would terminate them on its next backfill iteration; do it now.
    runs = instance.get_runs(
        dg.RunsFilter(tags={"dagster/backfill": backfill_id}, statuses=list(keys.UNFINISHED))
    )
    for run in runs:
        try:
            instance.run_coordinator.cancel_run(run.run_id)
        except Exception:  # noqa: BLE001 - the daemon's cancellation terminates it all the same
            continue


def daemon_running(instance: dg.DagsterInstance) -> bool:
    """True when a dagster-daemon has processed backfills on this instance in the last 90 s."""
    heartbeat = instance.get_daemon_heartbeats().get(BACKFILL_DAEMON)
    return heartbeat is not None and time.time() - heartbeat.timestamp < DAEMON_FRESH_SECONDS
