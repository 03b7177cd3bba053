"""The Dagster instance as the repository's dagster.yaml configures it.

dagster.yaml names the classes below, so that every process that opens the instance finds the same
one with no variable of its own: the `payroll` commands, `payroll ui`, a `dagster dev` or `dg dev`
started in the repository, the daemon, the code server and the run workers.
- `WarehouseStorage`: runs, event log and schedules in the warehouse database. It resolves the
  database the way every entry point does (`settings.prepare_environment()`: PAYROLL_DATABASE_URL,
  else the embedded PostgreSQL, started if needed) and so also exports what the code location and
  dbt read; the processes Dagster starts inherit it.
- `StateFolderArtifacts`, `StateFolderComputeLogs`: Dagster's local files (step logs, the files of
  the default IO manager) in the state folder's `dagster/`, never in the repository. The `tail`
  helpers that mirror a step's output to the terminal start with SIGINT blocked, so that a Ctrl-C
  stops the command (which says what it left undone) without their tracebacks.
- `pooled_storage(instance)`: for a block of many runs in one process (`payroll sync`), the storage
  keeps a few connections open instead of Dagster's default of a new connection per query, and
  remembers which of its tables exist instead of asking the catalog before most event writes.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator, Sequence

from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.root import LocalArtifactStorage
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage

from pipelines.lib import settings


def _dagster_files() -> str:
    return str(settings.owner_only_dir(settings.state_dir() / "dagster"))


class _FindsItsOwnSettings:
    """dagster.yaml names the class and gives it no config: `found_values()` finds them, in
    whichever process opens the instance."""

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: dict):
        return cls(inst_data=inst_data, **cls.found_values())

    @classmethod
    def found_values(cls) -> dict[str, str]:
        raise NotImplementedError


POOL_OVERFLOW = 8
POOL_RECYCLE_SECONDS = 3600


@contextlib.contextmanager
def pooled_storage(instance) -> Iterator[None]:
    """Hold the instance storage's connections open for the block, then close them.

    dagster-postgres opens a new connection for every query outside the webserver (SQLAlchemy's
    NullPool): about 230 per company-year run of `payroll sync`, over a quarter of its time on a
    busy machine. Inside the block each storage keeps one connection (plus overflow for threads),
    as the webserver's do (`optimize_for_webserver`, without a statement timeout); on exit the pools
    are disposed, so no connection outlives the block.
    """
    storages = [instance.run_storage, instance.event_log_storage, instance.schedule_storage]
    pooled = [
        storage
        for storage in storages
        if hasattr(storage, "optimize_for_webserver") and hasattr(storage, "_engine")
    ]
    for storage in pooled:
        storage.optimize_for_webserver(
            statement_timeout=0, pool_recycle=POOL_RECYCLE_SECONDS, max_overflow=POOL_OVERFLOW
        )
    remembered = _remember_tables(instance.event_log_storage)
    try:
        yield
    finally:
        if remembered:
            del instance.event_log_storage.has_table  # the class's own method again
        for storage in pooled:
            storage._engine.dispose()  # the pooled engine optimize_for_webserver created


def _remember_tables(event_log_storage) -> bool:
    """The event log asks the database catalog whether a table exists before most writes (asset
    event tags, asset checks, partitions: about 350 catalog queries per demo sync). Within the
    block a table that exists keeps existing, so a yes is remembered; a no is asked again."""
    ask = getattr(type(event_log_storage), "has_table", None)
    if ask is None:
        return False
    existing: set[str] = set()

    def has_table(table_name: str) -> bool:
        if table_name in existing:
            return True
        found = ask(event_log_storage, table_name)
        if found:
            existing.add(table_name)
        return found

    event_log_storage.has_table = has_table
    return True


class WarehouseStorage(_FindsItsOwnSettings, DagsterPostgresStorage):
    """Dagster's storage in the warehouse database (schema `public`), whatever process opens it."""

    @classmethod
    def found_values(cls) -> dict[str, str]:
        url = settings.prepare_environment()["PAYROLL_DATABASE_URL"]
        return {"postgres_url": settings.sqlalchemy_url(url)}


class StateFolderArtifacts(_FindsItsOwnSettings, LocalArtifactStorage):
    """Dagster's local artifact folder: `<state folder>/dagster`."""

    @classmethod
    def found_values(cls) -> dict[str, str]:
        return {"base_dir": _dagster_files()}


class StateFolderComputeLogs(_FindsItsOwnSettings, LocalComputeLogManager):
    """The captured stdout and stderr of every step: `<state folder>/dagster/storage`."""

    @classmethod
    def found_values(cls) -> dict[str, str]:
        return {"base_dir": f"{_dagster_files()}/storage"}

    @contextlib.contextmanager
    def capture_logs(self, log_key: Sequence[str]) -> Iterator:
        with contextlib.ExitStack() as stack:
            # The mask is inherited by the helper processes started here (and only by them).
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                captured = stack.enter_context(super().capture_logs(log_key))
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            yield captured
