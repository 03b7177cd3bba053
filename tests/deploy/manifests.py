"""The deployment files and what docs/deploy.md says about them, read once for the deploy tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipelines.lib.settings import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
HELM_VALUES = PROJECT_ROOT / "deploy" / "helm" / "values.yaml"
K8S_INSTANCE = PROJECT_ROOT / "deploy" / "k8s" / "dagster.yaml"
SETTINGS_CONFIGMAP = PROJECT_ROOT / "deploy" / "k8s" / "settings.yaml"
DEPLOY_DOC = PROJECT_ROOT / "docs" / "deploy.md"
CONFIGURATION_DOC = PROJECT_ROOT / "docs" / "configuration.md"

CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
_BACKTICKED = re.compile(r"`([^`]+)`")
_VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def settings() -> dict[str, str]:
    """The payroll-settings ConfigMap's data."""
    manifest = load(SETTINGS_CONFIGMAP)
    assert manifest["kind"] == "ConfigMap" and manifest["metadata"]["name"] == "payroll-settings"
    return manifest["data"]


@dataclass(frozen=True)
class DocumentedSecret:
    name: str
    keys: tuple[str, ...]

    def variables(self) -> set[str]:
        """The keys that become environment variables (envFrom / secretKeyRef)."""
        return {key for key in self.keys if _VARIABLE.fullmatch(key)}


def documented_secrets() -> dict[str, DocumentedSecret]:
    """The table under docs/deploy.md's "## Secrets": one row per Kubernetes Secret and its keys."""
    section = DEPLOY_DOC.read_text(encoding="utf-8").split("\n## Secrets\n", 1)[1].split("\n## ", 1)[0]
    secrets: dict[str, DocumentedSecret] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or not cells[0].startswith("`"):
            continue
        name = _BACKTICKED.findall(cells[0])[0]
        secrets[name] = DocumentedSecret(name=name, keys=tuple(_BACKTICKED.findall(cells[1])))
    assert secrets, "docs/deploy.md has no Secrets table under '## Secrets'"
    return secrets


def secret_variables() -> set[str]:
    """Every environment variable that carries a secret in this deployment."""
    return set().union(*(secret.variables() for secret in documented_secrets().values()))


def documented_variables() -> set[str]:
    """The variables docs/configuration.md describes (each is read by the code: tests/demo/test_docs.py)."""
    return set(_BACKTICKED.findall(CONFIGURATION_DOC.read_text(encoding="utf-8")))


def snake_case(value: Any) -> Any:
    """Helm values spell Kubernetes fields in camelCase, dagster.yaml in snake_case: compare in one."""
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower(): snake_case(item) for key, item in value.items()}
    if isinstance(value, list):
        return [snake_case(item) for item in value]
    return value
