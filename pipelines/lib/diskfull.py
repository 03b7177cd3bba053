"""A full disk said plainly: "disk full" and where, instead of `Errno 28` deep in a traceback.

`disk_full_message(error)` takes an exception (or an error text: a failed step's message, dbt's
output) and returns None unless it says the disk is full (ENOSPC, "No space left on device", or
PostgreSQL's SQLSTATE 53100). The message names the file when the error does; otherwise the
folders the pipeline writes to (the state folder, the dbt project, the temporary folder) whose disk
has next to no space left.
"""

from __future__ import annotations

import errno
import re
import shutil
import tempfile
from pathlib import Path

from pipelines.lib import settings

NEARLY_FULL_BYTES = 64 * 2**20
_NO_SPACE = re.compile(r"Errno 28\]|No space left on device|\bDiskFull\b")
_FILE_IN_TEXT = re.compile(r"No space left on device: '([^']+)'")
_SERVER_FILE = re.compile(r"could not (?:extend|write to|write block \d+ of) (?:temporary )?file")


def is_disk_full(error: BaseException | str) -> bool:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    if getattr(error, "pgcode", None) == "53100":
        return True
    return bool(_NO_SPACE.search(str(error)))


def disk_full_message(error: BaseException | str) -> str | None:
    """'disk full: ...' naming where and the fix, or None when `error` is not about a full disk."""
    if not is_disk_full(error):
        return None
    text = str(error)
    if _SERVER_FILE.search(text) or getattr(error, "pgcode", None) == "53100":
        return (
            "disk full on the PostgreSQL server: it could not write its data files, and the load was "
            "rolled back. Fix: free space on the server's data disk (for the embedded database: the disk "
            f"holding {settings.state_dir(create=False) / 'pgdata'}), then run again"
        )
    # shutil's copies name the source as filename and the file being written as filename2
    named = getattr(error, "filename2", None) or getattr(error, "filename", None) or _file_named_in(text)
    places = [Path(named)] if named else _nearly_full(_written_folders()) or _written_folders()
    where = "; ".join(f"{place} ({_free(place)} free)" for place in places)
    return f"disk full: no space left on the disk holding {where}. Fix: free space there, then run again"


def _file_named_in(text: str) -> str | None:
    match = _FILE_IN_TEXT.search(text)
    return match.group(1) if match else None


def _written_folders() -> list[Path]:
    return [settings.state_dir(create=False), settings.DBT_PROJECT_DIR, Path(tempfile.gettempdir())]


def _nearly_full(places: list[Path]) -> list[Path]:
    return [place for place in places if _free_bytes(place) < NEARLY_FULL_BYTES]


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(_existing(path)).free


def _free(path: Path) -> str:
    free = _free_bytes(path)
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if free >= size:
            return f"{free / size:.1f} {unit}"
    return f"{free} bytes"
