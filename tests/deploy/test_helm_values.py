"""deploy/helm/values.yaml: the chart's keys spelled right, Secrets named only by reference, and the
same instance as deploy/k8s/dagster.yaml (which tests/deploy/test_k8s_instance.py loads for real).

No Helm runs here, so the chart's schema is checked where it bites: the top-level keys and the keys
of the sections this file sets, as the chart's own schema declares them (helm/dagster/schema in
Dagster's repository, chart 1.13)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.deploy import dockerfile
from tests.deploy.manifests import (
    CREDENTIALS_IN_URL,
    DOCKERFILE,
    HELM_VALUES,
    K8S_INSTANCE,
    SETTINGS_CONFIGMAP,
    documented_secrets,
    documented_variables,
    load,
    secret_variables,
    settings,
    snake_case,
)

CHART_TOP_LEVEL = {
    "global", "dagsterWebserver", "dagster-user-deployments", "postgresql", "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret", "rabbitmq", "redis", "flower", "ingress", "imagePullSecrets",
    "computeLogManager", "scheduler", "runLauncher", "pythonLogs", "dagsterDaemon", "busybox", "migrate",
    "telemetry", "serviceAccount", "retention", "concurrency", "additionalInstanceConfig",
}  # fmt: skip
CHART_SECTIONS = {
    ("global",): {"postgresqlSecretName", "dagsterHome", "serviceAccountName", "celeryConfigSecretName"},
    ("postgresql",): {
        "image", "enabled", "postgresqlHost", "postgresqlUsername", "postgresqlPassword", "postgresqlDatabase",
        "postgresqlParams", "postgresqlScheme", "service",
    },
    ("runLauncher", "config", "k8sRunLauncher"): {
        "image", "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "kubeconfigFile", "envConfigMaps",
        "envSecrets", "envVars", "volumeMounts", "volumes", "labels", "failPodOnRunFailure", "resources",
        "schedulerName", "securityContext", "runK8sConfig",
    },
    ("runLauncher", "config", "k8sRunLauncher", "runK8sConfig"): {
        "containerConfig", "podSpecConfig", "podTemplateSpecMetadata", "jobSpecConfig", "jobMetadata",
    },
    ("dagsterDaemon",): {
        "enabled", "image", "runCoordinator", "heartbeatTolerance", "env", "envConfigMaps", "envSecrets",
        "deploymentLabels", "labels", "nodeSelector", "affinity", "tolerations", "podSecurityContext",
        "securityContext", "resources", "checkDbReadyInitContainer", "livenessProbe", "readinessProbe",
        "startupProbe", "annotations", "runMonitoring", "runRetries", "sensors", "schedules", "backfills",
        "schedulerName", "logFormat", "volumeMounts", "volumes", "initContainerResources", "extraContainers",
        "extraPrependedInitContainers",
    },
    ("dagsterDaemon", "runRetries"): {"enabled", "maxRetries", "retryOnAssetOrOpFailure"},
    ("dagsterDaemon", "runMonitoring"): {
        "enabled", "startTimeoutSeconds", "cancelTimeoutSeconds", "maxResumeRunAttempts", "pollIntervalSeconds",
        "freeSlotsAfterRunEndSeconds", "maxRuntimeSeconds",
    },
    ("concurrency",): {"enabled", "pools", "runs"},
    ("concurrency", "pools"): {"defaultLimit", "granularity", "opGranularityRunBuffer"},
    ("concurrency", "runs"): {"maxConcurrentRuns", "tagConcurrencyLimits"},
}  # fmt: skip
CHART_USER_DEPLOYMENT = {
    "name", "image", "dagsterApiGrpcArgs", "codeServerArgs", "includeConfigInLaunchedRuns",
    "deploymentNamespace", "port", "env", "envConfigMaps", "envSecrets", "annotations", "nodeSelector",
    "affinity", "tolerations", "podSecurityContext", "securityContext", "resources", "livenessProbe",
    "readinessProbe", "startupProbe", "labels", "volumeMounts", "volumes", "schedulerName", "deploymentStrategy",
}  # fmt: skip
CHART_USER_DEPLOYMENTS = {"enabled", "enableSubchart", "imagePullSecrets", "deployments"}

SECRET_WORDS = re.compile(r"password|passwd|token|secret|credential|api_?key", re.IGNORECASE)


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return load(HELM_VALUES)


@pytest.fixture(scope="module")
def instance_config() -> dict[str, Any]:
    return load(K8S_INSTANCE)


def _user_deployment(values: dict[str, Any]) -> dict[str, Any]:
    [deployment] = values["dagster-user-deployments"]["deployments"]
    return deployment


def _walk(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, index))


def literal_secrets(document: Any) -> list[str]:
    """Where a document holds a secret itself rather than the name of a Kubernetes Secret."""
    secret_names = secret_variables()
    found = []
    for path, node in _walk(document):
        where = ".".join(map(str, path))
        key = path[-1] if path else ""
        if isinstance(node, str) and CREDENTIALS_IN_URL.search(node):
            found.append(f"{where}: a URL with credentials")
        if (
            isinstance(key, str)
            and SECRET_WORDS.search(key)
            and not key.endswith("SecretName")
            and isinstance(node, str | int | float)
            and not isinstance(node, bool)
            and str(node)
        ):
            found.append(f"{where}: a literal value for a secret-looking key")
        if isinstance(node, dict) and node.get("name") in secret_names and "value" in node:
            found.append(
                f"{where}: {node['name']} given as a literal; use valueFrom.secretKeyRef or envSecrets"
            )
        if isinstance(key, str) and key in secret_names and not isinstance(node, dict | list):
            found.append(f"{where}: {key} given as a literal")
    return found


def _referenced_secrets(values: dict[str, Any]) -> dict[str, set[str]]:
    """Secret name -> the keys the values read from it (empty: all of them, envFrom)."""
    referenced: dict[str, set[str]] = {values["global"]["postgresqlSecretName"]: {"postgresql-password"}}
    for path, node in _walk(values):
        if path and path[-1] == "secretKeyRef":
            referenced.setdefault(node["name"], set()).add(node["key"])
        elif len(path) >= 2 and path[-2] in {"envSecrets", "imagePullSecrets"}:
            referenced.setdefault(node["name"], set())
    return referenced


def test_every_key_is_one_the_chart_knows(values):
    assert set(values) <= CHART_TOP_LEVEL, f"not chart keys (a typo?): {set(values) - CHART_TOP_LEVEL}"
    for section, known in CHART_SECTIONS.items():
        node = values
        for key in section:
            node = node.get(key, {})
        unknown = set(node) - known
        assert not unknown, f"{'.'.join(section)}: not chart keys (a typo?): {unknown}"
    unknown = set(values["dagster-user-deployments"]) - CHART_USER_DEPLOYMENTS
    assert not unknown, f"dagster-user-deployments: not chart keys: {unknown}"
    unknown = set(_user_deployment(values)) - CHART_USER_DEPLOYMENT
    assert not unknown, f"dagster-user-deployments.deployments[0]: not chart keys: {unknown}"


def test_the_deployment_uses_the_k8s_run_launcher_and_an_external_postgresql(values):
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["enabled"] is False, "the instance lives in the external PostgreSQL"
    assert values["postgresql"]["postgresqlHost"], "name the external PostgreSQL's host"
    assert "postgresqlPassword" not in values["postgresql"], (
        "the password comes from global.postgresqlSecretName"
    )
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["dagster-user-deployments"]["enabled"] is True
    deployment = _user_deployment(values)
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "pipelines.definitions"]
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    assert deployment["image"]["tag"] not in {"", "latest"}, "an immutable tag per build"
    assert values["dagsterDaemon"]["enabled"] and values["dagsterDaemon"]["runCoordinator"]["enabled"]


def test_the_values_name_secrets_only_by_reference(values):
    assert literal_secrets(values) == []
    assert literal_secrets(load(SETTINGS_CONFIGMAP)) == []
    assert not set(settings()) & secret_variables(), "credentials belong in Secrets, not payroll-settings"


@pytest.mark.parametrize(
    "plant",
    [
        lambda v: v["postgresql"].update(postgresqlPassword="hunter2"),
        lambda v: _user_deployment(v)["env"].append({"name": "NMBRS_TOKEN", "value": "abc123"}),
        lambda v: _user_deployment(v)["env"].append({"name": "X", "value": "postgresql://u:pw@db:5432/p"}),
        lambda v: v["dagsterDaemon"].update(env={"PAYROLL_DATABASE_URL": "postgresql://db/p"}),
        lambda v: v["global"].update(apiToken="s3cr3t"),
    ],
    ids=["chart password", "secret env literal", "url with password", "secret env map", "token key"],
)
def test_a_literal_secret_is_found(values, plant):
    planted = copy.deepcopy(values)
    plant(planted)
    assert literal_secrets(planted), "the check must catch a secret written into the values"


def test_every_referenced_secret_is_documented_and_every_documented_one_is_used(values):
    documented = documented_secrets()
    referenced = _referenced_secrets(values)
    assert set(referenced) == set(documented), (
        f"docs/deploy.md's Secrets table and the values disagree: only in the values "
        f"{set(referenced) - set(documented)}, only in the doc {set(documented) - set(referenced)}"
    )
    for name, keys in referenced.items():
        assert keys <= set(documented[name].keys), (
            f"{name}: keys {keys - set(documented[name].keys)} not documented"
        )
    launcher_secrets = {
        secret["name"] for secret in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    }
    assert {"payroll-warehouse", "payroll-nmbrs"} <= launcher_secrets, (
        "every run pod needs the warehouse and Nmbrs"
    )


def test_every_setting_and_secret_variable_is_one_the_code_reads():
    documented = documented_variables()
    for variable in set(settings()) | secret_variables():
        assert variable in documented, (
            f"{variable} is not in docs/configuration.md: a typo is silently ignored"
        )


def test_the_chart_renders_the_instance_of_deploy_k8s_dagster_yaml(values, instance_config):
    chart_launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    launcher = instance_config["run_launcher"]["config"]
    assert instance_config["run_launcher"]["class"] == "K8sRunLauncher"
    assert launcher["job_namespace"] == chart_launcher["jobNamespace"]
    assert launcher["image_pull_policy"] == chart_launcher["imagePullPolicy"]
    assert launcher["load_incluster_config"] == chart_launcher["loadInclusterConfig"]
    assert launcher["service_account_name"] == values["global"]["serviceAccountName"]
    assert launcher["dagster_home"] == values["global"]["dagsterHome"]
    assert (
        dockerfile.environment(dockerfile.parse(DOCKERFILE))["DAGSTER_HOME"]
        == values["global"]["dagsterHome"]
    )
    assert launcher["image_pull_secrets"] == values["imagePullSecrets"]
    assert values["dagster-user-deployments"]["imagePullSecrets"] == values["imagePullSecrets"]
    assert launcher["env_secrets"] == [secret["name"] for secret in chart_launcher["envSecrets"]]
    assert launcher["env_config_maps"] == [
        config_map["name"] for config_map in chart_launcher["envConfigMaps"]
    ]
    assert launcher["run_k8s_config"]["job_spec_config"] == snake_case(
        chart_launcher["runK8sConfig"]["jobSpecConfig"]
    )

    # The code location's settings reach its run pods through includeConfigInLaunchedRuns.
    deployment = _user_deployment(values)
    container = launcher["run_k8s_config"]["container_config"]
    assert container["resources"] == deployment["resources"]
    assert container["security_context"] == snake_case(deployment["securityContext"])
    assert launcher["run_k8s_config"]["pod_spec_config"]["security_context"] == snake_case(
        deployment["podSecurityContext"]
    )
    assert launcher["volumes"] == snake_case(deployment["volumes"])
    assert launcher["volume_mounts"] == snake_case(deployment["volumeMounts"])
    assert launcher["image_pull_policy"] == deployment["image"]["pullPolicy"]
    assert {s["name"] for s in deployment["envSecrets"]} >= set(launcher["env_secrets"])
    assert [c["name"] for c in deployment["envConfigMaps"]] == launcher["env_config_maps"]

    concurrency = values["concurrency"]
    assert concurrency["enabled"] is True
    assert (
        instance_config["concurrency"]["runs"]["max_concurrent_runs"]
        == concurrency["runs"]["maxConcurrentRuns"]
    )
    assert instance_config["concurrency"]["pools"] == snake_case(concurrency["pools"])

    daemon = values["dagsterDaemon"]
    assert instance_config["run_retries"] == {
        "enabled": daemon["runRetries"]["enabled"],
        "max_retries": daemon["runRetries"]["maxRetries"],
        "retry_on_asset_or_op_failure": daemon["runRetries"]["retryOnAssetOrOpFailure"],
    }
    assert instance_config["run_monitoring"] == snake_case(daemon["runMonitoring"])
    assert instance_config["telemetry"] == values["telemetry"]
