"""The layout rules of pipelines/*/__init__.py and docs/design.md, held by the code itself:
`lib/` is plain Python, `defs/` reads no environment and gets the warehouse and Nmbrs as resources,
tests share helpers through tests/support/, and no file points outside the repository."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import dagster as dg

from pipelines.lib.settings import PROJECT_ROOT

PIPELINES = PROJECT_ROOT / "pipelines"
TESTS = PROJECT_ROOT / "tests"


def _imports(path: Path) -> list[str]:
    """Every module a Python file imports, at any depth (function-level imports included)."""
    modules = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.append(node.module)
    return modules


def _python_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_lib_imports_neither_dagster_nor_the_layers_built_on_it():
    forbidden = ("dagster", "pipelines.defs", "pipelines.commands", "pipelines.app", "pipelines.sandbox")
    found = {
        f"{path.relative_to(PROJECT_ROOT)}: {module}"
        for path in _python_files(PIPELINES / "lib")
        for module in _imports(path)
        if module.split(".")[0].startswith("dagster") or module.startswith(forbidden)
    }
    assert found == set()


def _connects_by_url(path: Path) -> bool:
    """A `….connect(url)` call: the library's connect takes a URL, the resource's `connect()` none."""
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "connect"
        and (node.args or node.keywords)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
    )


def test_defs_never_read_the_environment_nor_open_their_own_connections():
    """Settings come from lib/; the warehouse and Nmbrs come from the resources (defs/resources.py,
    defs/nmbrs/resources.py), the only modules that open them."""
    patterns = ("os.environ", "os.getenv", "database_url(", "prepare_environment(")
    resources = {PIPELINES / "defs" / "resources.py", PIPELINES / "defs" / "nmbrs" / "resources.py"}
    found = []
    for path in _python_files(PIPELINES / "defs"):
        relative = path.relative_to(PROJECT_ROOT)
        text = path.read_text(encoding="utf-8")
        found += [f"{relative}: {pattern}" for pattern in patterns if pattern in text]
        if path not in resources and ("NmbrsSession(" in text or _connects_by_url(path)):
            found.append(f"{relative}: opens Nmbrs or the warehouse itself")
    assert found == []


def test_every_asset_check_and_sensor_that_touches_the_warehouse_or_nmbrs_gets_it_as_a_resource():
    from pipelines.definitions import defs

    repo = defs().get_repository_def()
    problems = []
    custom_checks = set()
    for assets_def in set(repo.asset_graph.assets_defs):
        required = assets_def.required_resource_keys
        kinds = set().union(*(spec.kinds for spec in assets_def.specs)) if assets_def.specs else set()
        name = assets_def.node_def.name
        if "postgres" in kinds and "warehouse" not in required:
            problems.append(f"asset {name} writes PostgreSQL without the warehouse resource")
        if "nmbrs" in kinds and "nmbrs" not in required:
            problems.append(f"asset {name} reads Nmbrs without the nmbrs resource")
        check_names = {spec.name for spec in assets_def.check_specs}
        if not assets_def.specs and check_names != {"freshness_check"}:  # our own @asset_check
            custom_checks |= check_names
            if "warehouse" not in required:
                problems.append(f"checks {sorted(check_names)} query the warehouse without the resource")
    assert custom_checks == {
        "reconciliation_within_tolerance",
        "source_coverage_complete",
        "journals_balanced",
    }
    sensors = {sensor.name: sensor.required_resource_keys for sensor in repo.sensor_defs}
    assert sensors == {
        "nmbrs_new_companies": {"nmbrs"},
        "nmbrs_new_runs": {"nmbrs", "warehouse"},
        "payroll_run_failure_alert": set(),  # the run's events only
        "raw_nmbrs_freshness": set(),  # the instance's materialization records only
    }
    assert problems == []


def test_tests_share_helpers_through_tests_support_not_conftests():
    conftest_imports, sandbox_starts = [], []
    for path in _python_files(TESTS):
        relative = str(path.relative_to(PROJECT_ROOT))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "conftest":
                conftest_imports.append(relative)
            elif isinstance(node, ast.Import) and any(
                a.name.split(".")[-1] == "conftest" for a in node.names
            ):
                conftest_imports.append(relative)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "start"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "SandboxServer"
                and path != TESTS / "support" / "sandboxes.py"
            ):
                sandbox_starts.append(relative)
    assert conftest_imports == []
    assert sandbox_starts == [], "start sandboxes with tests.support.sandboxes.sandboxes()"


def test_no_file_names_a_path_outside_the_repository():
    # Assembled from parts, so that this file does not name them itself.
    outside = ("../" + "shared/", "/" + "work/")
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True
    ).stdout.decode()
    found = []
    for name in filter(None, tracked.split("\0")):
        path = PROJECT_ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary files
        found += [f"{name}: {marker}" for marker in outside if marker in text]
    assert found == []


def test_the_instance_is_configured_by_the_repository_dagster_yaml(make_database, tmp_path):
    """What `dagster dev` started in the repository (DAGSTER_HOME=$PWD) and every `payroll` command open."""
    from pipelines.lib import settings
    from pipelines.lib.settings import temporary_env

    url = make_database("payroll_instance")
    with temporary_env(
        {
            "PAYROLL_DATABASE_URL": url,
            "PAYROLL_EMBEDDED": None,
            "PAYROLL_HOME": str(tmp_path),
            "DAGSTER_HOME": None,
        }
    ):
        assert settings.prepare_environment(start_embedded=False)["DAGSTER_HOME"] == str(PROJECT_ROOT)
        with dg.DagsterInstance.from_config(str(PROJECT_ROOT)) as instance:
            assert instance.get_ref().storage_data.class_name == "WarehouseStorage"
            assert instance.root_directory == str(tmp_path / "dagster")
            assert instance.run_retries_max_retries == 1
            run = instance.create_run_for_job(dg.GraphDefinition(name="probe").to_job())
    from pipelines.lib import warehouse

    assert warehouse.fetch_all(url, "select run_id from runs") == [(run.run_id,)]
