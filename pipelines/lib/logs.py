"""Logs: the `payroll` commands' log level and handler, and the log files kept in the state folder.

- `configure_logging()`: one handler on the root logger writes to stderr (or the given stream) at
  the level PAYROLL_LOG_LEVEL sets (default WARNING). Whatever the level, `zeep.transports` stays at
  INFO or above: at DEBUG it would log whole SOAP envelopes, with the token; `urllib3` follows the
  level even where the kubernetes client raised it. What the product logs
  holds no secret or personal data at any level (tests/security/test_leaks.py syncs at DEBUG).
- `open_log(path)`: a log file readable by its owner only (0600).
- `keep_failed_dbt_log(target, run_id)`: the dbt.log of a failed dbt run, copied out of the dbt
  target folder (deleted after every run) to logs/dbt/<run id>.log.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path
from typing import TextIO

from pipelines.lib import settings
from pipelines.lib.diskfull import disk_full_message

DEFAULT_LEVEL = "WARNING"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
KEPT_DBT_LOGS = 20
log = logging.getLogger(__name__)


class _PayrollHandler(logging.StreamHandler):
    """Writes to the given stream, else to the current sys.stderr (so a redirected stderr, as in
    `payroll demo`, gets the records); marks the handler this module installed."""

    def __init__(self, stream: TextIO | None):
        super().__init__(stream)
        self._fixed = stream

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = self._fixed or sys.stderr
        super().emit(record)


def configure_logging(stream: TextIO | None = None) -> str:
    """Send log records at PAYROLL_LOG_LEVEL and above to `stream` (default stderr); the level used."""
    level = settings.log_level() or DEFAULT_LEVEL
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _PayrollHandler)]:
        root.removeHandler(handler)
    handler = _PayrollHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    # The kubernetes client (loaded with Dagster's k8s run launcher) holds urllib3 at WARNING; the
    # HTTP layer of the Nmbrs calls follows the level asked for.
    logging.getLogger("urllib3").setLevel(logging.NOTSET)
    transports = logging.getLogger("zeep.transports")
    transports.setLevel(max(logging.INFO, transports.getEffectiveLevel()))
    return level


def _private(path: Path) -> int:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    return descriptor


def open_log(path: Path) -> TextIO:
    """Open a log file for writing (truncated), readable by its owner only (0600)."""
    return os.fdopen(_private(path), "w", encoding="utf-8")


def keep_failed_dbt_log(target_path: Path, run_id: str) -> Path | None:
    """Copy a failed dbt run's dbt.log to the state folder's logs/dbt/<run id>.log (0600), keeping
    the newest KEPT_DBT_LOGS. None when dbt wrote no log or it could not be copied (logged why)."""
    source = target_path / "dbt.log"
    if not source.is_file():
        return None
    folder = settings.owner_only_dir(settings.logs_dir() / "dbt")
    kept = folder / f"{run_id}.log"
    try:
        with source.open("rb") as original, os.fdopen(_private(kept), "wb") as copy:
            shutil.copyfileobj(original, copy)
    except OSError as exc:
        log.warning("could not keep the failed dbt run's log %s: %s", source, disk_full_message(exc) or exc)
        kept.unlink(missing_ok=True)
        return None
    for old in sorted(folder.glob("*.log"), key=lambda path: path.stat().st_mtime)[:-KEPT_DBT_LOGS]:
        old.unlink(missing_ok=True)
    return kept
