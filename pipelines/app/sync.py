"""`run_sync()`: everything headless, in this process, recorded in the Dagster instance.

Used by `payroll sync`, `make demo` and the tests. Steps, each one Dagster run against the
instance at DAGSTER_HOME (so the runs show in the UI):
1. the reference assets (nmbrs/environment, companies, employees with employee_assignments);
2. one run per company-year partition (runs, wage components, payslips, source coverage);
3. the ERP files and `dbt build` (every asset outside the nmbrs_raw group), once.
Before step 1 the mapping files must pass `payroll mapping check`'s file checks (lib/mapping/gate.py):
otherwise nothing runs, so no dbt node either (with include_dbt=False only the problems that stop
dbt from parsing the project count).
A failed company-year is reported and the others go on; `SyncResult.success` is then False.
A SIGINT or SIGTERM (inside `interrupts.stop_on_signals()`, as the commands run it) stops the sync:
the running step's Dagster run is interrupted (its load rolls back, the previous rows stay), no
further step starts, and `SyncResult.interrupted` holds the signal and `not_started` the steps left.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import dagster as dg
import psutil
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.utils import make_new_run_id

from pipelines.app import demo
from pipelines.app.instance import pooled_storage
from pipelines.defs import keys
from pipelines.defs.automation.pool import apply_pool_size
from pipelines.defs.nmbrs import partitions, state
from pipelines.lib import interrupts, settings, warehouse
from pipelines.lib.automation_settings import AutomationSettings
from pipelines.lib.diskfull import disk_full_message
from pipelines.lib.mapping import gate as mapping_gate
from pipelines.lib.nmbrs.config import NmbrsSettings, is_local_url
from pipelines.lib.settings import ConfigurationError

SYNC_TAG = "payroll/sync"
PID_TAG = "payroll/sync_pid"
HOST_TAG = "payroll/sync_host"
REFERENCE_STEP = "nmbrs reference data"
DOWNSTREAM_STEP = "ERP files + dbt build"


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
    interrupted: bool = False  # stopped by a signal: the run was cut short, its loads rolled back
    checks: int = 0  # asset checks (dbt tests among them) evaluated by the run
    checks_passed: int = 0

    @property
    def unchanged(self) -> bool:
        """A company-year whose runs had not changed: nothing fetched, nothing written."""
        return (
            self.success
            and self.partition is not None
            and not any(load.changed or load.rows_loaded for load in self.loads)
        )

    def work(self) -> str:
        """What the step really did, in a few words (the sync summary, the progress lines)."""
        rows = sum(load.rows for load in self.loads)
        written = sum(load.rows_loaded for load in self.loads)
        calls = f"{self.calls['soap']} SOAP and {self.calls['rest']} REST calls"
        if self.partition is not None:
            if self.unchanged:
                return f"unchanged, skipped ({rows} rows kept; {calls})"
            return f"loaded {written} rows ({rows} rows in the partition; {calls})"
        if self.name == DOWNSTREAM_STEP:
            erp = [load for load in self.loads if load.asset.startswith("erp/")]
            models = len(self.loads) - len(erp)
            erp_rows = sum(load.rows_loaded for load in erp)
            return (
                f"ERP files: {erp_rows} rows loaded into {len(erp)} tables; dbt build: {models} models built, "
                f"{self.checks_passed} of {self.checks} tests and checks passed"
            )
        return f"loaded {written} rows ({calls})"


@dataclass
class SyncResult:
    source_mode: str
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: int | None = None  # the signal (SIGINT, SIGTERM) that stopped the sync
    not_started: list[str] = field(default_factory=list)  # the steps a signal left undone

    @property
    def success(self) -> bool:
        return self.interrupted is None and bool(self.steps) and all(step.success for step in self.steps)

    def interruption(self) -> str | None:
        """What a signal left undone, in one line; None when no signal stopped the sync."""
        if self.interrupted is None:
            return None
        cut = [step.name for step in self.steps if step.interrupted]
        parts = [f"stopped by {interrupts.signal_name(self.interrupted)} {self.seconds:.1f}s into the sync"]
        if cut:
            parts.append(f"{', '.join(cut)}: rolled back, its previous rows are kept")
        if self.not_started:
            parts.append(f"not started: {'; '.join(self.not_started)}")
        parts.append("run `payroll sync` again to finish (unchanged partitions are skipped)")
        return "; ".join(parts)

    @property
    def failures(self) -> list[StepResult]:
        return [step for step in self.steps if not step.success]

    @property
    def partitions(self) -> list[str]:
        return [step.partition for step in self.steps if step.partition]

    def partition_lines(self) -> list[str]:
        """Per company-year, unchanged (skipped) or loaded: two lines for the end of a sync or demo."""
        unchanged = [step.name for step in self.steps if step.unchanged]
        loaded = [
            f"{step.name} ({sum(load.rows_loaded for load in step.loads)} rows)"
            for step in self.steps
            if step.partition is not None and step.success and not step.unchanged
        ]
        lines = []
        if unchanged:
            lines.append(f"unchanged, skipped: {len(unchanged)} company-year(s): {'; '.join(unchanged)}")
        if loaded:
            lines.append(f"loaded: {len(loaded)} company-year(s): {'; '.join(loaded)}")
        return lines

    def rows(self) -> dict[str, int]:
        """Rows each asset holds after the sync (summed over partitions)."""
        return self._per_asset(lambda load: load.rows)

    def rows_loaded(self) -> dict[str, int]:
        """Rows each asset's loads wrote in this sync."""
        return self._per_asset(lambda load: load.rows_loaded)

    def _per_asset(self, count: Callable[[AssetLoad], int]) -> dict[str, int]:
        totals: dict[str, int] = {}
        for step in self.steps:
            for load in step.loads:
                totals[load.asset] = totals.get(load.asset, 0) + count(load)
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
    started_by: str = keys.STARTED_BY_SYNC,
) -> SyncResult:
    """Sync Nmbrs (and, with include_dbt, the ERP files and dbt) into the warehouse. Never raises for
    a failed step: the failures are in the result. Settings errors raise ConfigurationError.
    Each step is a run of a named job (`Jobs`), tagged with `started_by` (sync, demo) and its name."""
    say = progress or (lambda _message: None)
    started = time.monotonic()
    database_url = settings.prepare_environment()["PAYROLL_DATABASE_URL"]
    _check_warehouse(database_url)
    if since is not None:
        _set_start_year(since)

    nmbrs_settings = NmbrsSettings.from_env()
    result = SyncResult(source_mode=nmbrs_settings.source_mode)
    if nmbrs_settings.uses_rest and is_local_url(nmbrs_settings.identity_url):
        # Against real Nmbrs the user runs `payroll connect`; the assets otherwise fail with that fix.
        demo.ensure_sandbox_connection(nmbrs_settings, say, verify=False)
    demo.use_sandbox_erp_files(nmbrs_settings)
    refused = _check_mappings(database_url, include_dbt, say)  # before dbt parses them: all marts or none
    if refused is not None:
        result.steps.append(refused)
        result.seconds = time.monotonic() - started
        return result
    defs = _load_definitions()
    years = [year for year in partitions.loaded_years() if since is None or year >= since]
    job = Jobs.of(defs, started_by)
    tags = {SYNC_TAG: uuid.uuid4().hex[:12], PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}

    with dg.DagsterInstance.get() as instance, pooled_storage(instance), interrupts.deferred():
        _run_steps(
            instance, defs, job, years, tags, companies, database_url, full_refresh, include_dbt, say, result
        )
    result.interrupted = interrupts.requested()
    result.seconds = time.monotonic() - started
    return result


@dataclass(frozen=True)
class Jobs:
    """The named jobs a sync runs, and who started it (tags `payroll/started_by`, `user`)."""

    reference: dg.JobDefinition
    company_year: dg.JobDefinition
    downstream: dg.JobDefinition
    started_by: str

    @classmethod
    def of(cls, defs: dg.Definitions, started_by: str) -> Jobs:
        downstream = defs.resolve_job_def(keys.REBUILD_JOB)
        if not set(_downstream_keys(defs)) <= set(downstream.asset_layer.executable_asset_keys):
            # An asset outside the rebuild job's selection: the implicit job holds every asset.
            downstream = defs.resolve_implicit_global_asset_job_def()
        return cls(
            reference=defs.resolve_job_def(keys.REFERENCE_JOB),
            company_year=defs.resolve_job_def(keys.COMPANY_YEAR_LOAD_JOB),
            downstream=downstream,
            started_by=started_by,
        )

    def tags(self, what: str) -> dict[str, str]:
        return {**keys.run_tags(self.started_by, what), keys.LAUNCHED_BY_TAG: f"payroll {self.started_by}"}


def _run_steps(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    job: Jobs,
    years: list[int],
    tags: dict,
    companies: Iterable[int | str] | None,
    database_url: str,
    full_refresh: bool,
    include_dbt: bool,
    say: Progress,
    result: SyncResult,
) -> None:
    """The steps in order; a signal (interrupts.requested()) lets no further step start."""
    recovered = recover_abandoned_runs(instance)
    if recovered:
        say(f"marked {len(recovered)} run(s) of an interrupted sync as failed and freed their pool slots")
    apply_pool_size(instance, AutomationSettings.from_env().nmbrs_pool_size)

    reference = _execute(
        job.reference,
        instance,
        REFERENCE_STEP,
        list(keys.REFERENCE_ASSETS),
        None,
        tags | job.tags(REFERENCE_STEP),
        {},
        say,
    )
    result.steps.append(reference)
    downstream = _downstream_keys(defs) if include_dbt else []
    if not reference.success:
        if reference.interrupted:
            result.not_started = ["every company-year"] + ([DOWNSTREAM_STEP] if downstream else [])
        return

    company_ids = _company_ids(instance, database_url, companies)
    op_config = {"ops": {keys.COMPANY_YEAR_OP: {"config": {"refresh": full_refresh}}}}
    queued = [
        (f"company {company_id}, year {year}", company_id, year)
        for company_id in company_ids
        for year in years
    ]
    for index, (name, company_id, year) in enumerate(queued):
        if interrupts.requested() is not None:
            result.not_started = [queued_name for queued_name, _, _ in queued[index:]]
            break
        key = partitions.company_year_key(company_id, year)
        result.steps.append(
            _execute(
                job.company_year,
                instance,
                name,
                list(keys.COMPANY_YEAR_ASSETS),
                str(key),
                tags | job.tags(name),
                op_config,
                say,
            )
        )
    if downstream and interrupts.requested() is not None:
        result.not_started.append(DOWNSTREAM_STEP)
    elif downstream:
        result.steps.append(
            _execute(
                job.downstream,
                instance,
                DOWNSTREAM_STEP,
                downstream,
                None,
                tags | job.tags(DOWNSTREAM_STEP),
                {},
                say,
            )
        )


def _check_mappings(database_url: str, include_dbt: bool, say: Progress) -> StepResult | None:
    """A failed step when the mapping files fail `payroll mapping check`'s file checks (lib/mapping/gate.py)."""
    problems = mapping_gate.mapping_problems(database_url, unparsable_only=not include_dbt)
    if not problems:
        return None
    step = StepResult(name=mapping_gate.STEP_NAME, error=mapping_gate.refusal(problems))
    say(f"{step.name}: FAILED: {step.error}")
    return step


def _check_warehouse(database_url: str) -> None:
    """Fail at once with WarehouseUnavailable (host, port, database, the fix) when the database is
    down, instead of a traceback after the Dagster instance's own connection retries; and with
    OldKeyWarehouse (run `payroll db rekey`) before any step when it is still keyed on SOAP ids."""
    conn = warehouse.connect(database_url)
    try:
        warehouse.refuse_old_key_warehouse(conn)
    finally:
        conn.close()


def _set_start_year(since: int) -> None:
    settings.set_start_year(since)
    loaded = partitions.loaded_years()
    if settings.payroll_years()[0] not in loaded:
        raise ConfigurationError(
            f"--since {since}: the year partitions of this process start at {loaded[0]}; run the sync in a "
            f"new process with PAYROLL_START_YEAR={since} (the Dagster UI also needs a restart to show them)"
        )


def _load_definitions() -> dg.Definitions:
    from pipelines.definitions import defs

    return defs()


def _company_ids(
    instance: dg.DagsterInstance, database_url: str, wanted: Iterable[int | str] | None
) -> list[int]:
    """The registered companies that the last company listing still holds; `wanted` must be among them."""
    conn = warehouse.connect(database_url)
    try:
        current = set(state.company_ids(conn))
    finally:
        conn.close()
    known = [int(key) for key in partitions.registered_companies(instance) if int(key) in current]
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


def _downstream_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    """Every unpartitioned asset outside the Nmbrs extraction: the ERP files and the dbt models."""
    graph = defs.resolve_asset_graph()
    selected = []
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable and node.group_name != keys.NMBRS_GROUP and node.partitions_def is None:
            selected.append(key)
    return sorted(selected, key=lambda k: k.to_user_string())


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
    step = StepResult(name=name, partition=partition, run_id=make_new_run_id())
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
            run_id=step.run_id,
        )
    except (KeyboardInterrupt, DagsterExecutionInterruptedError, interrupts.Interrupted):
        # A SIGINT or SIGTERM inside a step's code: Dagster raised it there, the load rolled back.
        _interrupted(instance, step)
    except Exception as exc:  # a definition or config error before the run started
        step.error = disk_full_message(exc) or f"{name}: {type(exc).__name__}: {exc}"
        step.error_detail = traceback.format_exc()
    else:
        _read_outcome(outcome, step)
        step.warnings = _warnings(instance, outcome.run_id)
        if not step.success and interrupts.requested() is not None:
            _interrupted(instance, step)
    step.seconds = time.monotonic() - started
    for warning in step.warnings:
        say(f"{name}: warning: {warning}")
    if step.interrupted:
        say(f"{name}: stopped after {step.seconds:.1f}s: {step.error}")
    elif step.success:
        say(f"{name}: done in {step.seconds:.1f}s: {step.work()}")
    else:
        say(f"{name}: FAILED in {step.seconds:.1f}s: {step.error}")
    return step


def _interrupted(instance: dg.DagsterInstance, step: StepResult) -> None:
    """Record a step a signal cut short; its run, if Dagster left it unfinished, is marked canceled."""
    step.success = False
    step.interrupted = True
    signum = interrupts.requested() or signal.SIGINT
    step.error = f"stopped by {interrupts.signal_name(signum)}; rolled back, the previous rows are kept"
    run = instance.get_run_by_id(step.run_id) if step.run_id else None
    if run is not None and run.status in keys.UNFINISHED:
        instance.report_run_canceled(
            run, message=f"`payroll sync` stopped by {interrupts.signal_name(signum)}"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)


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
        if entry.dagster_event is None
        and entry.level >= logging.WARNING
        # "Dependencies for step … failed … Not executing.": the failure itself is reported
        and not entry.user_message.startswith("Dependencies for step")
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
                user.description if described else step_error_text(data.error)
            )
            step.error_detail = data.error.to_string()
    for evaluation in outcome.get_asset_check_evaluations():
        step.checks += 1
        step.checks_passed += int(evaluation.passed)
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


def step_error_text(error) -> str:
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
    for run in instance.get_runs(
        filters=dg.RunsFilter(statuses=list(keys.UNFINISHED), tags={HOST_TAG: host})
    ):
        pid = run.tags.get(PID_TAG, "")
        if pid.isdigit() and int(pid) != os.getpid() and not psutil.pid_exists(int(pid)):
            instance.report_run_failed(run, message=f"the `payroll sync` process {pid} ended during this run")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            recovered.append(run.run_id)
    return recovered
