"""The user docs stay true to the code: every environment variable the code reads is documented, the
architecture picture holds every asset of the definitions, and the README's index lists every document."""

from __future__ import annotations

import re

import dagster as dg

from pipelines.lib.settings import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"
VARIABLE = re.compile(
    r"""["'](?:PAYROLL|NMBRS|DAGSTER|DBT)_[A-Z0-9_]*[A-Z0-9]["']|env:\s*((?:PAYROLL|NMBRS)_[A-Z0-9_]+)"""
)
SOURCES = (
    "pipelines/**/*.py",
    "benchmarks/**/*.py",
    "tests/conftest.py",
    "dbt_project/profiles.yml",
    "dagster.yaml",
    "deploy/k8s/dagster.yaml",
)


def variables_read_by_the_code() -> dict[str, str]:
    found: dict[str, str] = {}
    for pattern in SOURCES:
        for path in PROJECT_ROOT.glob(pattern):
            for match in VARIABLE.finditer(path.read_text(encoding="utf-8")):
                name = (match.group(1) or match.group(0)).strip("\"'")
                found.setdefault(name, str(path.relative_to(PROJECT_ROOT)))
    return found


def test_every_environment_variable_is_in_the_configuration_reference():
    reference = (DOCS / "configuration.md").read_text(encoding="utf-8")
    variables = variables_read_by_the_code()
    assert {"PAYROLL_DATABASE_URL", "NMBRS_TOKEN", "PAYROLL_NMBRS_POOL_SIZE"} <= set(variables)
    missing = {name: where for name, where in variables.items() if f"`{name}`" not in reference}
    assert missing == {}, f"add these to docs/configuration.md (variable: a file reading it): {missing}"


def test_the_architecture_picture_holds_every_asset():
    from pipelines.definitions import defs

    picture = (DOCS / "architecture.md").read_text(encoding="utf-8").split("```mermaid", 1)[1].split("```")[0]
    graph = defs().resolve_asset_graph()
    missing = [
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable and f'["{key.to_user_string()}' not in picture
    ]
    assert missing == [], f"docs/architecture.md's asset graph lacks {missing}"
    for key in graph.get_all_asset_keys():
        for parent in graph.get(key).parent_keys:
            edge = f"{_node(parent)} --> {_node(key)}"
            assert edge in picture, f"docs/architecture.md's asset graph lacks the edge {edge}"


def test_the_readme_index_lists_every_document():
    index = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8").split("\n## Documentation\n", 1)[1]
    documents = {path.relative_to(PROJECT_ROOT).as_posix() for path in DOCS.glob("*.md")}
    listed = set(re.findall(r"\bdocs/[\w.-]+\.md\b", index))
    assert "docs/deploy.md" in documents
    assert documents - listed == set(), f"add these to the README's Documentation list: {documents - listed}"
    assert listed - documents == set(), (
        f"the README's Documentation list names missing files: {listed - documents}"
    )


def _node(key: dg.AssetKey) -> str:
    return key.to_user_string().replace("/", "__")
