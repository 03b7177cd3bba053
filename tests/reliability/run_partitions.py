"""Child process for the concurrency tests: load company-year partitions as separate Dagster runs.

    python -m tests.reliability.run_partitions '{"keys": ["102|2026"], "tags": {...}}'

Runs the Nmbrs company-year assets of each key, one run after the other, in the instance and
warehouse the environment names (as a run launched by the daemon would), and prints one JSON line
per run: {"key", "run_id", "success"}. Several of these processes run at once in the tests.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.lib import settings
    from pipelines.lib.sync import COMPANY_YEAR_ASSETS, console_log_config

    request = json.loads(argv[0])
    settings.prepare_environment(start_embedded=False)
    job = defs().resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.get() as instance:
        for key in request["keys"]:
            outcome = job.execute_in_process(
                instance=instance,
                asset_selection=list(COMPANY_YEAR_ASSETS),
                partition_key=key,
                tags=request.get("tags", {}),
                run_config=console_log_config(),
                raise_on_error=False,
            )
            print(json.dumps({"key": key, "run_id": outcome.run_id, "success": outcome.success}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
