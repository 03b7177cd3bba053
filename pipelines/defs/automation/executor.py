"""Runs execute their steps in the run's own process (in_process_executor) by default.

The steps of a run depend on each other (Nmbrs load → dbt build → checks), so the multiprocess
executor's one-process-per-step buys no parallelism here and costs a Python start and a
definitions load per step: on a small self-hosted machine that was most of a backfill's time.
Parallelism comes from running several runs at once (dagster.yaml max_concurrent_runs), bounded
by the `nmbrs_api` and `dbt_build` pools.
"""

import dagster as dg

defs = dg.Definitions(executor=dg.in_process_executor)
