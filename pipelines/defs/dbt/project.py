"""The dbt project as Dagster sees it: one cached DbtProject with a manifest that is always current.

`dagster dev` is not needed to prepare the manifest: when target/manifest.json is missing or older
than any file of the project or the mappings, `dbt parse` runs in-process (under a file lock, so
parallel processes parse once) and the new manifest replaces the old one atomically.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import tempfile
from pathlib import Path

from dagster_dbt import DbtProject

from pipelines.lib.settings import DBT_PROJECT_DIR, MAPPINGS_DIR

_IGNORED_DIRS = {"target", "logs", "dbt_packages", "__pycache__"}


class DbtParseError(RuntimeError):
    """`dbt parse` failed; the message carries dbt's error so the project file can be fixed."""


def _newest_source_mtime(project_dir: Path, mappings_dir: Path) -> float:
    newest = 0.0
    for root in (project_dir, mappings_dir):
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in _IGNORED_DIRS]
            for name in filenames:
                newest = max(newest, (Path(dirpath) / name).stat().st_mtime)
    return newest


def manifest_is_current(manifest: Path, project_dir: Path, mappings_dir: Path) -> bool:
    return manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime(project_dir, mappings_dir)


def prepare_manifest(project_dir: Path = DBT_PROJECT_DIR, mappings_dir: Path = MAPPINGS_DIR) -> Path:
    """Return target/manifest.json of the project, running `dbt parse` first if it is missing or stale."""
    target = project_dir / "target"
    manifest = target / "manifest.json"
    if manifest_is_current(manifest, project_dir, mappings_dir):
        return manifest
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".parse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not manifest_is_current(manifest, project_dir, mappings_dir):
            _parse_into(manifest, project_dir)
    return manifest


def _parse_into(manifest: Path, project_dir: Path) -> None:
    from dbt.cli.main import dbtRunner

    scratch = Path(tempfile.mkdtemp(prefix="parse-", dir=manifest.parent))
    try:
        result = dbtRunner().invoke(
            [
                "parse",
                "--project-dir",
                str(project_dir),
                "--profiles-dir",
                str(project_dir),
                "--target-path",
                str(scratch),
                "--no-partial-parse",
                "--no-send-anonymous-usage-stats",
                "--quiet",
            ]
        )
        if not result.success:
            raise DbtParseError(
                f"dbt parse of {project_dir} failed: {result.exception}. Fix the model, seed or YAML file "
                "it names, then run `dbt parse` in dbt_project/ to check"
            )
        os.replace(scratch / "manifest.json", manifest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@functools.cache
def dbt_project() -> DbtProject:
    """The project, built once per process, with its manifest prepared."""
    prepare_manifest()
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
