"""The dbt project as Dagster sees it: one cached DbtProject with a manifest that is always current.

`dagster dev` is not needed to prepare the manifest: when target/manifest.json is missing or older
than any file of the project or the mappings, `dbt parse` runs in-process (under a file lock, so
parallel processes parse once) and the new manifest replaces the old one atomically.

dbt's partial-parse state, target/partial_parse.msgpack, is kept too: written by that parse and
replaced after every full `dbt build` (`keep_parse_state`). dagster-dbt copies it into each
invocation's own target folder, so a second sync parses only what changed, not the whole project.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import tempfile
from pathlib import Path

from dagster_dbt import DbtProject

from pipelines.lib.mapping import gate as mapping_gate
from pipelines.lib.settings import DBT_PROJECT_DIR, MAPPINGS_DIR

_IGNORED_DIRS = {"target", "logs", "dbt_packages", "__pycache__"}
PARTIAL_PARSE_FILE = "partial_parse.msgpack"


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
            _parse_into(manifest, project_dir, mappings_dir)
    return manifest


def _parse_into(manifest: Path, project_dir: Path, mappings_dir: Path = MAPPINGS_DIR) -> None:
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
                "--no-send-anonymous-usage-stats",
                "--quiet",
            ]
        )
        if not result.success:
            # A mapping file dbt cannot read (cp1252, a BOM, a NUL byte) fails the parse with a
            # traceback naming no file: say which file, line and column instead, as the check does.
            unparsable = mapping_gate.unparsable_problems(mappings_dir)
            if unparsable:
                raise DbtParseError(
                    mapping_gate.refusal(unparsable, mapping_gate.PARSE_OUTCOME, mapping_gate.RELOAD)
                )
            raise DbtParseError(
                f"dbt parse of {project_dir} failed: {result.exception}. Fix the model, seed or YAML file "
                "it names, then run `dbt parse` in dbt_project/ to check"
            )
        os.replace(scratch / "manifest.json", manifest)
        # The scratch folder held no parse state, so this was a full parse; its state lets the
        # next `dbt build` (dagster-dbt copies target/partial_parse.msgpack) parse partially.
        if (scratch / PARTIAL_PARSE_FILE).exists():
            os.replace(scratch / PARTIAL_PARSE_FILE, manifest.parent / PARTIAL_PARSE_FILE)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def keep_parse_state(invocation_target: Path, project_dir: Path = DBT_PROJECT_DIR) -> bool:
    """Keep the parse state a finished `dbt build` wrote in its own target folder (deleted next) as
    target/partial_parse.msgpack, replaced atomically. False when the build wrote none."""
    written = invocation_target / PARTIAL_PARSE_FILE
    if not written.is_file():
        return False
    target = project_dir / "target"
    target.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkstemp(prefix=".partial-parse-", dir=target)[1])
    try:
        shutil.copyfile(written, scratch)
        os.replace(scratch, target / PARTIAL_PARSE_FILE)
    finally:
        scratch.unlink(missing_ok=True)
    return True


@functools.cache
def dbt_project() -> DbtProject:
    """The project, built once per process, with its manifest prepared."""
    prepare_manifest()
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
