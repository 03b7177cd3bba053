"""deploy/k8s/dagster.yaml loaded into a real DagsterInstance, with dagster-k8s, on a fresh PostgreSQL
database. There is no cluster here, so the pod's side of Kubernetes is stood in for: the service-account
files and variables Kubernetes gives every pod (the run launcher reads them when it is built), and the
API that would receive the Job (the one call that needs a cluster). Everything else is the real
launcher, the real storage and the project's own pool code."""

from __future__ import annotations

import shutil
import sys
import uuid

import dagster as dg
import psycopg2
import pytest
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.launcher import LaunchRunContext
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_k8s import K8sRunLauncher
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from kubernetes.config import incluster_config

from pipelines.defs.automation.config import AutomationSettings
from pipelines.defs.automation.new_runs_sensor import JOB_NAME
from pipelines.defs.automation.pool import DBT_POOL, NMBRS_POOL, apply_pool_size, pool_limit
from pipelines.lib.settings import sqlalchemy_url, temporary_env
from tests.deploy.manifests import K8S_INSTANCE, settings

IMAGE = "registry.example/payroll-pipeline:3f2a9c1"
# Nmbrs's fair use (docs/deploy.md, "The nmbrs_api pool"): calls per second, and the shortest round
# trip the pool size is planned for. One request in flight per slot, so slots ÷ round trip ≤ limit.
FAIR_USE_CALLS_PER_SECOND = 150
PLANNED_SHORTEST_CALL_SECONDS = 0.1


class RecordingJobsApi:
    """Stands in for the Kubernetes API: keeps the Jobs the launcher would create."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, object]] = []

    def create_namespaced_job_with_retries(self, body, namespace):
        self.jobs.append((namespace, body))


@pytest.fixture
def inside_a_pod(tmp_path, monkeypatch):
    """The service-account token, CA file and API address Kubernetes mounts into every pod."""
    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("service-account-token-for-tests")
    ca.write_text("certificate-for-tests")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")


@pytest.fixture
def database_url(make_database) -> str:
    return make_database("payroll_k8s")


@pytest.fixture
def instance(inside_a_pod, database_url, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(K8S_INSTANCE, home / "dagster.yaml")
    with temporary_env({"DAGSTER_HOME": str(home), "PAYROLL_DAGSTER_PG_URL": sqlalchemy_url(database_url)}):
        with dg.DagsterInstance.from_config(str(home)) as loaded:
            yield loaded


def test_the_run_launcher_is_a_k8s_run_launcher_built_from_the_config(instance):
    launcher = instance.run_launcher
    assert isinstance(launcher, K8sRunLauncher)
    assert launcher.job_namespace == "payroll"
    assert launcher.env_secrets == ["payroll-warehouse", "payroll-nmbrs"]
    assert launcher.env_config_maps == ["payroll-settings"]
    assert launcher.image_pull_policy == "IfNotPresent"
    assert launcher.image_pull_secrets == [{"name": "registry-credentials"}]
    assert launcher.service_account_name == "dagster"
    assert launcher.job_image is None, "runs use the code location's image, not one fixed here"
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)


def test_the_storage_is_the_postgresql_of_the_environment_variable(instance, database_url):
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert instance.run_storage.postgres_url == sqlalchemy_url(database_url)

    run = instance.add_run(dg.DagsterRun(job_name=JOB_NAME, run_id=str(uuid.uuid4())))
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("select run_id from runs")
            assert cur.fetchall() == [(run.run_id,)], (
                "the run must land in the database of PAYROLL_DAGSTER_PG_URL"
            )
    finally:
        conn.close()


def test_runs_are_queued_and_retried_as_on_one_machine(instance):
    concurrency = instance.get_concurrency_config()
    assert concurrency.run_queue_config.max_concurrent_runs == 20
    assert concurrency.run_queue_config.should_block_op_concurrency_limited_runs, (
        "no pod waits for a full pool"
    )
    assert concurrency.pool_config.default_pool_limit == 1, "dbt_build must never get more than one slot"
    assert concurrency.pool_config.op_granularity_run_buffer == 2
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
    assert not instance.run_retries_retry_on_asset_or_op_failure, (
        "a failed step is retried by its RetryPolicy"
    )
    assert instance.run_monitoring_enabled and instance.run_monitoring_start_timeout_seconds == 300


def test_the_pool_size_of_the_settings_keeps_nmbrs_within_fair_use(instance):
    with temporary_env(settings()):
        size = AutomationSettings.from_env().nmbrs_pool_size
    assert size / PLANNED_SHORTEST_CALL_SECONDS <= FAIR_USE_CALLS_PER_SECOND, (
        f"PAYROLL_NMBRS_POOL_SIZE={size} may exceed Nmbrs's 150 calls/s (docs/deploy.md)"
    )
    assert pool_limit(instance, NMBRS_POOL) is None
    assert apply_pool_size(instance, size) is True
    assert pool_limit(instance, NMBRS_POOL) == size
    assert pool_limit(instance, DBT_POOL) == 1


def test_a_run_becomes_a_kubernetes_job_with_the_secrets_and_no_cluster(instance):
    launcher = instance.run_launcher
    launcher._api_client = RecordingJobsApi()  # the one call that needs a cluster
    origin = JobPythonOrigin(
        JOB_NAME,
        RepositoryPythonOrigin(
            sys.executable, ModuleCodePointer("pipelines.definitions", "defs", None), container_image=IMAGE
        ),
    )
    run = instance.add_run(dg.DagsterRun(job_name=JOB_NAME, run_id=str(uuid.uuid4()), job_code_origin=origin))

    launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))

    [(namespace, job)] = launcher._api_client.jobs
    assert namespace == "payroll"
    pod = job.spec.template.spec
    [container] = pod.containers
    assert container.image == IMAGE and container.image_pull_policy == "IfNotPresent"
    assert "execute_run" in container.args
    sources = [(s.secret_ref.name if s.secret_ref else None, s.config_map_ref.name if s.config_map_ref else None)
               for s in container.env_from]  # fmt: skip
    assert sources == [(None, "payroll-settings"), ("payroll-warehouse", None), ("payroll-nmbrs", None)]
    assert not [e for e in container.env if e.name.startswith(("PAYROLL_DATABASE", "NMBRS_"))], (
        "no secret inline"
    )
    assert container.resources.limits == {"memory": "1Gi"}
    assert container.security_context.allow_privilege_escalation is False
    assert pod.security_context.run_as_non_root is True and pod.security_context.run_as_user == 10001
    assert pod.service_account_name == "dagster"
    assert [
        (v.name, v.persistent_volume_claim.claim_name) for v in pod.volumes if v.persistent_volume_claim
    ] == [("erp-exports", "payroll-erp-exports")]
    assert job.spec.backoff_limit == 0 and job.spec.ttl_seconds_after_finished == 86400
    assert instance.get_run_by_id(run.run_id).tags["dagster/image"] == IMAGE
