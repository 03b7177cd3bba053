"""Child process of the incremental benchmark: take in one new payroll run, the way the sensor does.

    python -m benchmarks.new_run_driver --company 1 --year 2026

Executes the `nmbrs_company_year_sync` job (the company-year partition plus everything downstream,
dbt with the company/year vars) in this process against the instance at DAGSTER_HOME, and prints
one JSON line: the job's wall time and the time of its dbt step, both measured around the run only
(interpreter start-up and imports excluded).
"""

from __future__ import annotations

import argparse
import json
import time

JOB = "nmbrs_company_year_sync"
DBT_STEP = "payroll_dbt"


def _step_seconds(entries) -> dict[str, float]:
    """Duration of each step, from the run's event log (start to success)."""
    started: dict[str, float] = {}
    steps: dict[str, float] = {}
    for entry in entries:
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.is_step_start:
            started[event.step_key] = entry.timestamp
        elif event.is_step_success and event.step_key in started:
            steps[event.step_key] = entry.timestamp - started[event.step_key]
    return steps


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--company", type=int, required=True)
    cli.add_argument("--year", type=int, required=True)
    args = cli.parse_args()

    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.defs.nmbrs.partitions import company_year_key
    from pipelines.lib import settings

    settings.prepare_environment(start_embedded=False)
    job = defs().resolve_job_def(JOB)
    with dg.DagsterInstance.get() as instance:
        start = time.perf_counter()
        outcome = job.execute_in_process(
            instance=instance,
            partition_key=str(company_year_key(args.company, args.year)),
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            raise_on_error=False,
        )
        seconds = time.perf_counter() - start
        if not outcome.success:
            failure = outcome.get_run_failure_event()
            raise SystemExit(
                f"{JOB} for company {args.company}, year {args.year} failed: {failure and failure.message}"
            )
        steps = _step_seconds(instance.all_logs(outcome.run_id))
    dbt_seconds = sum(duration for key, duration in steps.items() if DBT_STEP in key)
    print(json.dumps({"seconds": seconds, "dbt_seconds": dbt_seconds, "steps": steps}))


if __name__ == "__main__":
    main()
