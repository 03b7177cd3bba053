"""The `nmbrs_api` concurrency pool: how many Nmbrs API steps may run at once, across all runs.

dagster.yaml can only hold a fixed default for every pool, so the size from PAYROLL_NMBRS_POOL_SIZE
is written into the instance (the same setting the UI's Concurrency page edits). The backfill
command and the new-run sensor call `apply_pool_size` before they launch anything, so the limit is
in force for every run they start.
"""

from __future__ import annotations

import dagster as dg

from pipelines.defs.keys import DBT_POOL, NMBRS_POOL

DBT_POOL_SIZE = 1


def pool_limit(instance: dg.DagsterInstance, pool: str) -> int | None:
    """The pool's configured slot count, or None while the pool is unknown to the instance."""
    if pool not in instance.event_log_storage.get_concurrency_keys():
        return None
    return instance.event_log_storage.get_concurrency_info(pool).slot_count


def apply_pool_size(instance: dg.DagsterInstance, size: int) -> bool:
    """Set the nmbrs_api pool (and the one-at-a-time dbt pool) on the instance; True if anything changed."""
    changed = False
    for pool, wanted in ((NMBRS_POOL, size), (DBT_POOL, DBT_POOL_SIZE)):
        if pool_limit(instance, pool) != wanted:
            instance.event_log_storage.set_concurrency_slots(pool, wanted)
            changed = True
    return changed
