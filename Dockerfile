# syntax=docker/dockerfile:1
# The code location as a container image: the `pipelines` package with its locked dependencies
# (pyproject.toml + constraints.txt) and dagster-k8s, the dbt project with its manifest parsed at
# build time, run as a non-root user. No secret is baked in: the warehouse URL and the Nmbrs
# credentials reach the pods from Kubernetes Secrets at run time (docs/deploy.md).
#   docker build -t registry.example/payroll-pipeline:$(git rev-parse --short HEAD) .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DAGSTER_DISABLE_TELEMETRY=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    PAYROLL_KEEP_DAGSTER_HOME=1 \
    PAYROLL_HOME=/tmp/payroll \
    DBT_TARGET_PATH=/tmp/dbt-target

RUN groupadd --system --gid 10001 payroll \
 && useradd --system --uid 10001 --gid payroll --create-home --home-dir /home/payroll payroll

WORKDIR /opt/payroll

# The dependencies first, so that this layer is rebuilt only when the lock or the project's
# metadata changes. The package is installed editable: the code finds dbt_project/ and mappings/
# next to it (pipelines/lib/settings.py: PROJECT_ROOT).
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY pipelines/__init__.py pipelines/
RUN python -m venv "$VIRTUAL_ENV" \
 && pip install --constraint constraints.txt --editable '.[k8s]'

COPY pipelines/ pipelines/
COPY dbt_project/ dbt_project/
COPY mappings/ mappings/

# dbt's manifest, parsed here (dbt parse needs no database), so that no pod parses at start; the
# byte code too, since the runtime user cannot write next to the code.
RUN python -c "from pipelines.defs.dbt.project import prepare_manifest; prepare_manifest()" \
 && python -m compileall -q pipelines

# The chart mounts the instance's dagster.yaml here; Dagster keeps local artifacts next to it.
RUN mkdir -p "$DAGSTER_HOME" && chown payroll:payroll "$DAGSTER_HOME"

USER 10001:10001
EXPOSE 3030
CMD ["dagster", "api", "grpc", "--host", "0.0.0.0", "--port", "3030", "--module-name", "pipelines.definitions"]
