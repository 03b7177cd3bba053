"""Child process of the incremental benchmark: take in one new payroll run, the way the sensor does.

    python -m benchmarks.new_run_driver --company 1 --year 2026

Evaluates the real `nmbrs_new_runs` sensor in this process (one tick, with the definitions'
resources, against the instance at DAGSTER_HOME; no cursor, so it compares Nmbrs with the
warehouse, as a sensor just switched on does), then executes every run request of the tick as the
daemon would launch it: the `nmbrs_company_year_sync` job for the request's partition with its
tags (the company-year partition plus everything downstream, dbt on that slice). The tick must
request the company-year given. Prints one JSON line: the time from the start of the tick to the
end of the last run, the tick's and the job's time and that of its dbt step, all measured around
the work only (interpreter start-up and imports excluded).
"""

from __future__ import annotations

import argparse
import json
import time

JOB = "nmbrs_company_year_sync"
SENSOR = "nmbrs_new_runs"
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

    from pipelines.definitions import defs as load_defs
    from pipelines.defs.nmbrs.partitions import company_year_key
    from pipelines.lib import settings

    settings.prepare_environment(start_embedded=False)
    defs = load_defs()
    sensor = defs.resolve_sensor_def(SENSOR)
    job = defs.resolve_job_def(JOB)
    wanted = str(company_year_key(args.company, args.year))
    with dg.DagsterInstance.get() as instance:
        start = time.perf_counter()
        with dg.build_sensor_context(
            instance=instance, cursor=None, definitions=defs, resources=defs.resources
        ) as context:
            tick = sensor(context)
        tick_seconds = time.perf_counter() - start
        requests = list(tick.run_requests or [])
        if wanted not in {request.partition_key for request in requests}:
            raise SystemExit(
                f"the {SENSOR} tick did not request {wanted}: "
                f"{[r.partition_key for r in requests]} ({tick.skip_reason})"
            )
        steps: dict[str, float] = {}
        job_seconds = 0.0
        for request in requests:
            job_start = time.perf_counter()
            outcome = job.execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                tags=request.tags,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                raise_on_error=False,
            )
            job_seconds += time.perf_counter() - job_start
            if not outcome.success:
                failure = outcome.get_run_failure_event()
                raise SystemExit(f"{JOB} for {request.partition_key} failed: {failure and failure.message}")
            for key, seconds in _step_seconds(instance.all_logs(outcome.run_id)).items():
                steps[key] = steps.get(key, 0.0) + seconds
        seconds = time.perf_counter() - start
    dbt_seconds = sum(duration for key, duration in steps.items() if DBT_STEP in key)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "tick_seconds": tick_seconds,
                "job_seconds": job_seconds,
                "dbt_seconds": dbt_seconds,
                "requests": len(requests),
                "steps": steps,
            }
        )
    )


if __name__ == "__main__":
    main()
