"""`run_sync()`: everything headless, in this process, recorded in the Dagster instance.

Used by `payroll sync`, `make demo` and the tests. Steps, each one Dagster run against the
instance at DAGSTER_HOME (so the runs show in the UI):
1. the reference assets (nmbrs/environment, companies, employees);
2. one run per company-year partition (runs, wage components, payslips, source coverage);
3. the ERP files and `dbt build` (every asset outside the nmbrs_raw group), once.
A failed company-year is reported and the others go on; `SyncResult.success` is then False.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import dagster as dg
import psutil

from pipelines.lib import settings
from pipelines.lib.diskfull import disk_full_message
from pipelines.lib.settings import ConfigurationError

NMBRS_GROUP = "nmbrs_raw"
REFERENCE_ASSETS = tuple(dg.AssetKey(["nmbrs", name]) for name in ("environment", "companies", "employees"))
COMPANY_YEAR_ASSETS = tuple(
    dg.AssetKey(["nmbrs", name])
    for name in ("payroll_runs", "wage_components", "payslips", "source_coverage")
)
COMPANY_YEAR_OP = "nmbrs_company_year"
SYNC_TAG = "payroll/sync"
PID_TAG = "payroll/sync_pid"
HOST_TAG = "payroll/sync_host"
UNFINISHED = (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED)


@dataclass
class AssetLoad:
    asset: str
    partition: str | None
    rows: int
    rows_loaded: int
    changed: bool


@dataclass
class StepResult:
    name: str
    partition: str | None = None
    run_id: str | None = None
    success: bool = False
    seconds: float = 0.0
    loads: list[AssetLoad] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=lambda: {"soap": 0, "rest": 0})
    retries: int = 0
    error: str | None = None
    error_detail: str | None = None  # the traceback, for --verbose
    warnings: list[str] = field(default_factory=list)


@dataclass
class SyncResult:
    source_mode: str
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def success(self) -> bool:
        return bool(self.steps) and all(step.success for step in self.steps)

    @property
    def failures(self) -> list[StepResult]:
        return [step for step in self.steps if not step.success]

    @property
    def partitions(self) -> list[str]:
        return [step.partition for step in self.steps if step.partition]

    def rows(self) -> dict[str, int]:
        """Rows each asset holds after the sync (summed over partitions)."""
        totals: dict[str, int] = {}
        for step in self.steps:
            for load in step.loads:
                totals[load.asset] = totals.get(load.asset, 0) + load.rows
        return totals

    def rows_loaded(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for step in self.steps:
            for load in step.loads:
                totals[load.asset] = totals.get(load.asset, 0) + load.rows_loaded
        return totals

    def calls(self) -> dict[str, int]:
        return {api: sum(step.calls.get(api, 0) for step in self.steps) for api in ("soap", "rest")}


Progress = Callable[[str], None]


def run_sync(
    since: int | None = None,
    companies: Iterable[int | str] | None = None,
    include_dbt: bool = True,
    progress: Progress | None = None,
    full_refresh: bool = False,
) -> SyncResult:
    """Sync Nmbrs (and, with include_dbt, the ERP files and dbt) into the warehouse. Never raises for
    a failed step: the failures are in the result. Settings errors raise ConfigurationError."""
    say = progress or (lambda _message: None)
    started = time.monotonic()
    settings.prepare_environment()
    _check_warehouse()
    if since is not None:
        _set_start_year(since)

    from pipelines.lib.nmbrs.config import NmbrsSettings

    nmbrs_settings = NmbrsSettings.from_env()
    result = SyncResult(source_mode=nmbrs_settings.source_mode)
    _ensure_rest_connection(nmbrs_settings, say)
    defs = _load_definitions()
    years = _years(since)
    job = defs.resolve_implicit_global_asset_job_def()
    tags = {SYNC_TAG: uuid.uuid4().hex[:12], PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}

    with dg.DagsterInstance.get() as instance:
        recovered = recover_abandoned_runs(instance)
        if recovered:
            say(f"marked {len(recovered)} run(s) of an interrupted sync as failed and freed their pool slots")
        _apply_pool_size(instance)

        reference = _execute(
            job, instance, "nmbrs reference data", list(REFERENCE_ASSETS), None, tags, {}, say
        )
        result.steps.append(reference)
        if not reference.success:
            result.seconds = time.monotonic() - started
            return result

        from pipelines.defs.nmbrs.partitions import company_year_key

        company_ids = _company_ids(instance, companies)
        op_config = {"ops": {COMPANY_YEAR_OP: {"config": {"refresh": full_refresh}}}}
        for company_id in company_ids:
            for year in years:
                key = company_year_key(company_id, year)
                result.steps.append(
                    _execute(
                        job,
                        instance,
                        f"company {company_id}, year {year}",
                        list(COMPANY_YEAR_ASSETS),
                        str(key),
                        tags,
                        op_config,
                        say,
                    )
                )

        downstream = _downstream_keys(defs) if include_dbt else []
        if downstream:
            result.steps.append(
                _execute(job, instance, "ERP files + dbt build", downstream, None, tags, {}, say)
            )
    result.seconds = time.monotonic() - started
    return result


def _check_warehouse() -> None:
    """Fail at once with WarehouseUnavailable (host, port, database, the fix) when the database is
    down, instead of a traceback after the Dagster instance's own connection retries."""
    from pipelines.lib import warehouse

    warehouse.connect(os.environ["PAYROLL_DATABASE_URL"]).close()


def _set_start_year(since: int) -> None:
    from pipelines.defs.nmbrs import partitions

    os.environ[partitions.START_YEAR_VARIABLE] = str(since)
    wanted = partitions.payroll_years()
    loaded = partitions.company_year.get_partitions_def_for_dimension("year").get_partition_keys()
    if wanted[0] not in loaded:
        raise ConfigurationError(
            f"--since {since}: the year partitions of this process start at {loaded[0]}; run the sync in a "
            f"new process with PAYROLL_START_YEAR={since} (the Dagster UI also needs a restart to show them)"
        )


def _years(since: int | None) -> list[int]:
    from pipelines.defs.nmbrs import partitions

    keys = partitions.company_year.get_partitions_def_for_dimension("year").get_partition_keys()
    return [int(year) for year in keys if since is None or int(year) >= since]


def _load_definitions() -> dg.Definitions:
    from pipelines.definitions import defs

    return defs()


def _ensure_rest_connection(nmbrs_settings, say: Progress) -> None:
    """A REST sync needs a stored refresh token. Against the local sandbox we connect automatically;
    against real Nmbrs the user runs `payroll connect` (the assets then fail with that fix)."""
    if not nmbrs_settings.uses_rest:
        return
    from pipelines.lib.nmbrs import oauth
    from pipelines.lib.nmbrs.config import is_local_url
    from pipelines.lib.nmbrs.tokens import TokenStore

    store = TokenStore(os.environ["PAYROLL_DATABASE_URL"], nmbrs_settings)
    if store.is_connected() or not is_local_url(nmbrs_settings.identity_url):
        return
    # Any free local port: the sandbox accepts http://127.0.0.1:*/callback.
    local = dataclasses.replace(nmbrs_settings, redirect_uri="http://127.0.0.1:0/callback")
    oauth.connect(local, store, show_url=lambda _url: None, auto_approve=True)
    say("connected the REST API to the local Nmbrs sandbox")


def _apply_pool_size(instance: dg.DagsterInstance) -> None:
    from pipelines.defs.automation.config import AutomationSettings
    from pipelines.defs.automation.pool import apply_pool_size

    apply_pool_size(instance, AutomationSettings.from_env().nmbrs_pool_size)


def _company_ids(instance: dg.DagsterInstance, wanted: Iterable[int | str] | None) -> list[int]:
    from pipelines.defs.nmbrs.partitions import COMPANIES

    known = sorted(int(key) for key in instance.get_dynamic_partitions(COMPANIES))
    current = set(_current_company_ids())
    known = [company_id for company_id in known if company_id in current]
    if wanted is None:
        return known
    chosen = []
    for raw in wanted:
        text = str(raw).strip()
        if not text.isdigit() or int(text) not in known:
            raise ConfigurationError(
                f"--company {text}: no such Nmbrs company for these credentials; known company ids: "
                f"{', '.join(map(str, known)) or 'none'}"
            )
        chosen.append(int(text))
    return sorted(set(chosen))


def _current_company_ids() -> list[int]:
    from pipelines.lib import warehouse

    conn = warehouse.connect(os.environ["PAYROLL_DATABASE_URL"])
    try:
        with conn.cursor() as cur:
            cur.execute("select company_id from nmbrs.companies")
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def _downstream_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    """Every unpartitioned asset outside the Nmbrs extraction: the ERP files and the dbt models."""
    graph = defs.resolve_asset_graph()
    keys = []
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable and node.group_name != NMBRS_GROUP and node.partitions_def is None:
            keys.append(key)
    return sorted(keys, key=lambda k: k.to_user_string())


def _execute(
    job,
    instance,
    name: str,
    keys: Sequence[dg.AssetKey],
    partition: str | None,
    tags: dict,
    run_config: dict,
    say: Progress,
) -> StepResult:
    step = StepResult(name=name, partition=partition)
    say(f"{name}: running")
    started = time.monotonic()
    try:
        outcome = job.execute_in_process(
            instance=instance,
            asset_selection=list(keys),
            partition_key=partition,
            tags=tags,
            run_config={**console_log_config(), **run_config},
            raise_on_error=False,
        )
    except Exception as exc:  # a definition or config error before the run started
        step.error = disk_full_message(exc) or f"{name}: {type(exc).__name__}: {exc}"
        step.error_detail = traceback.format_exc()
    else:
        _read_outcome(outcome, step)
        step.warnings = _warnings(instance, outcome.run_id)
    step.seconds = time.monotonic() - started
    for warning in step.warnings:
        say(f"{name}: warning: {warning}")
    if step.success:
        rows = sum(load.rows for load in step.loads)
        say(
            f"{name}: done in {step.seconds:.1f}s ({rows} rows, {step.calls['soap']} SOAP and "
            f"{step.calls['rest']} REST calls)"
        )
    else:
        say(f"{name}: FAILED in {step.seconds:.1f}s: {step.error}")
    return step


def console_log_config() -> dict:
    """Dagster's console log is off unless PAYROLL_LOG_LEVEL asks for it: each step's warnings and
    its error are reported as one line by the sync itself, tracebacks stay in the run's event log
    (the Dagster UI) and `payroll sync --verbose`."""
    return {"loggers": {"console": {"config": {"log_level": settings.log_level() or "CRITICAL"}}}}


def _warnings(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """What the run's steps logged at WARNING or above themselves (not Dagster's own events)."""
    return [
        entry.user_message
        for entry in instance.all_logs(run_id)
        if entry.dagster_event is None and entry.level >= logging.WARNING
    ]


def _read_outcome(outcome: dg.ExecuteInProcessResult, step: StepResult) -> None:
    step.run_id = outcome.run_id
    step.success = outcome.success
    calls_seen: set[str] = set()
    for event in outcome.all_events:
        if event.is_step_up_for_retry:
            step.retries += 1
        if event.is_step_failure and step.error is None:
            data = event.step_failure_data
            user = data.user_failure_data
            described = user is not None and user.description
            step.error = _disk_full(data.error) or (
                user.description if described else _error_text(data.error)
            )
            step.error_detail = data.error.to_string()
    for event in outcome.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        meta = {key: value.value for key, value in materialization.metadata.items()}
        step.loads.append(
            AssetLoad(
                asset=materialization.asset_key.to_user_string(),
                partition=materialization.partition,
                rows=int(meta.get("rows", 0) or 0),
                rows_loaded=int(meta.get("rows_loaded", meta.get("rows", 0)) or 0),
                changed=bool(meta.get("changed", True)),
            )
        )
        if event.step_key not in calls_seen and "calls_soap" in meta:
            calls_seen.add(event.step_key)
            step.calls["soap"] += int(meta["calls_soap"])
            step.calls["rest"] += int(meta["calls_rest"])
    if not step.success and step.error is None:
        failure = outcome.get_run_failure_event()
        step.error = failure.message if failure is not None else "the run failed"


def _error_text(error) -> str:
    """The step's error; for a step that used up its retries, the error of its last attempt (Dagster's
    own text is only "Exceeded max_retries of N"); for an exception Dagster wrapped ("Error occurred
    while executing op ..."), the exception's own text."""
    text = error.message.strip()
    if text.startswith("Exceeded max_retries") and error.cause is not None:
        text = f"{error.cause.message.strip()} ({text.lower().replace('exceeded', 'after')})"
    elif text.startswith("Error occurred while executing") and error.cause is not None:
        text = error.cause.message.strip()
    return text


def _disk_full(error) -> str | None:
    """The "disk full" message, if the error or any exception in its chain says the disk is full."""
    while error is not None:
        message = disk_full_message(error.message)
        if message:
            return message
        error = error.cause or error.context
    return None


def recover_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Runs of a sync process on this machine that died (SIGKILL, power loss) stay STARTED and keep
    their concurrency-pool slots. Mark them failed and free the slots, so that the pool does not
    shrink for good."""
    host = socket.gethostname()
    recovered = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=list(UNFINISHED), tags={HOST_TAG: host})):
        pid = run.tags.get(PID_TAG, "")
        if pid.isdigit() and int(pid) != os.getpid() and not psutil.pid_exists(int(pid)):
            instance.report_run_failed(run, message=f"the `payroll sync` process {pid} ended during this run")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            recovered.append(run.run_id)
    return recovered
