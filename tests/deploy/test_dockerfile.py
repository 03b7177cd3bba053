"""The code location image (Dockerfile): locked dependencies, a manifest parsed at build time, a
non-root user and no secret inside. No container engine runs here, so the build is rehearsed: the
COPY steps are applied to a folder standing for the image (honouring .dockerignore) and the
manifest step is run there, without a database and without any credential in its environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path, PurePosixPath

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pipelines.lib.settings import PROJECT_ROOT
from tests.deploy import dockerfile
from tests.deploy.manifests import CREDENTIALS_IN_URL, DOCKERFILE, HELM_VALUES, load, secret_variables

PROJECT = "payroll-pipeline"
PIP_INSTALL = re.compile(r"pip install (?P<options>.*?)--editable '\.\[(?P<extras>[a-z0-9,]+)\]'")


@pytest.fixture(scope="module")
def instructions() -> list[dockerfile.Instruction]:
    return dockerfile.parse(DOCKERFILE)


def _pip_install(instructions: list[dockerfile.Instruction]) -> tuple[int, re.Match]:
    found = [
        (index, match)
        for index, instruction in enumerate(instructions)
        if instruction.keyword == "RUN" and (match := PIP_INSTALL.search(instruction.arguments))
    ]
    assert len(found) == 1, (
        "the Dockerfile must install the project exactly once: pip install ... --editable '.[…]'"
    )
    return found[0]


def _pinned(constraints: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in constraints.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _installed_closure(project: str, extras: set[str]) -> dict[str, str]:
    """Every distribution `pip install .[extras]` brings in, with the version installed here."""
    found: dict[str, str] = {}
    pending = [(project, frozenset(extras))]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, wanted_extras = pending.pop()
        if (canonicalize_name(name), wanted_extras) in seen:
            continue
        seen.add((canonicalize_name(name), wanted_extras))
        environments = [{"extra": extra} for extra in wanted_extras] or [{"extra": ""}]
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            if requirement.marker and not any(requirement.marker.evaluate(env) for env in environments):
                continue
            found[canonicalize_name(requirement.name)] = metadata.version(requirement.name)
            pending.append((requirement.name, frozenset(requirement.extras)))
    found.pop(canonicalize_name(project), None)
    return found


def test_the_image_installs_the_project_with_the_lock_only(instructions):
    index, match = _pip_install(instructions)
    assert re.search(r"(--constraint|-c) constraints\.txt\b", match.group("options")), (
        "the Dockerfile's pip install must use --constraint constraints.txt, the lock `make install` uses"
    )
    copied_before = {
        word
        for instruction in instructions[:index]
        if instruction.keyword == "COPY"
        for word in instruction.words()
    }
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    needed = {"pyproject.toml", "constraints.txt", project["readme"], *project.get("license-files", [])}
    assert needed <= copied_before, (
        f"copy these before the install (the build reads them): {needed - copied_before}"
    )

    extras = set(match.group("extras").split(","))
    assert extras == {"k8s"}, "the image installs the runtime and the k8s extra, not dev or bench"
    pins = _pinned(PROJECT_ROOT / "constraints.txt")
    closure = _installed_closure(PROJECT, extras)
    assert canonicalize_name("dagster-k8s") in closure, "the image must carry dagster-k8s (the run launcher)"
    unpinned = sorted(name for name in closure if name not in pins)
    assert unpinned == [], f"pin these in constraints.txt, or the image resolves them freely: {unpinned}"
    differ = {name: (pins[name], version) for name, version in closure.items() if pins[name] != version}
    assert differ == {}, f"constraints.txt differs from what the tests run with (pinned, installed): {differ}"


def test_the_image_runs_as_the_non_root_user_the_pods_expect(instructions):
    keywords = [instruction.keyword for instruction in instructions]
    assert "USER" in keywords, "the Dockerfile must switch to a non-root USER"
    last_user = len(keywords) - 1 - keywords[::-1].index("USER")
    last_run = len(keywords) - 1 - keywords[::-1].index("RUN")
    assert last_run < last_user < keywords.index("CMD"), "USER must come after the last RUN and before CMD"
    uid, _, gid = instructions[last_user].arguments.partition(":")
    assert uid.isdigit() and int(uid) != 0, (
        "USER must be a numeric, non-zero uid: runAsNonRoot can only verify a number"
    )

    values = load(HELM_VALUES)
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["podSecurityContext"]["runAsUser"] == int(uid)
    assert deployment["podSecurityContext"]["runAsGroup"] == int(gid)


def test_no_secret_is_baked_into_the_image(instructions):
    secrets = secret_variables()
    assert {"PAYROLL_DATABASE_URL", "NMBRS_TOKEN", "NMBRS_CLIENT_SECRET"} <= secrets
    for instruction in instructions:
        if instruction.keyword in {"ENV", "ARG"}:
            for word in instruction.words():
                name = word.partition("=")[0]
                assert name not in secrets, (
                    f"{instruction.keyword} {name}: a secret comes from a Kubernetes Secret"
                )
                assert not CREDENTIALS_IN_URL.search(word), (
                    f"{instruction.keyword} {name} carries credentials"
                )
        assert not CREDENTIALS_IN_URL.search(instruction.arguments), (
            f"{instruction.keyword} carries credentials"
        )

    patterns = dockerfile.ignore_patterns(PROJECT_ROOT / ".dockerignore")
    for path in (".env", "deploy/prod.env", ".payroll/pgdata/base/1", ".venv/bin/python", ".git/config"):
        assert dockerfile.is_ignored(PurePosixPath(path), patterns), f".dockerignore must keep {path} out"
    for path in ("pyproject.toml", "constraints.txt", "pipelines/definitions.py", "mappings/README.md"):
        assert not dockerfile.is_ignored(PurePosixPath(path), patterns), f".dockerignore drops {path}"


def test_the_build_parses_the_dbt_manifest_without_a_database_or_credentials(instructions, tmp_path):
    image, runs = dockerfile.rehearse(instructions, PROJECT_ROOT, tmp_path / "image")
    workdir = image.image_path(".")
    manifest = workdir / "dbt_project" / "target" / "manifest.json"
    assert not manifest.exists(), (
        "a host-built manifest entered the build context: .dockerignore dbt_project/target"
    )
    assert not (workdir / "tests").exists() and not (workdir / ".venv").exists()

    [step] = [run for run in runs if "prepare_manifest" in run]
    env = {
        key: str(tmp_path / "image" / value.lstrip("/")) if value.startswith("/") else value
        for key, value in dockerfile.environment(instructions).items()
        if key not in {"PATH", "VIRTUAL_ENV"}
    }
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(tmp_path),
    }
    assert not {key for key in env if key.startswith("NMBRS_") or "DATABASE" in key}
    done = subprocess.run(
        ["sh", "-c", step], cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"the manifest step failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

    nodes = json.loads(manifest.read_text(encoding="utf-8"))["nodes"]
    assert {"model.payroll.payroll_gl_reconciliation", "model.payroll.fct_payroll_lines"} <= set(nodes)
    assert list((workdir / "pipelines" / "__pycache__").glob("definitions.*.pyc")), (
        "byte code is compiled at build"
    )
