"""One place that decides the environment: state folder, database URL, Dagster home, dbt variables.

Everything the project needs from the environment is read here, so that the CLI, `dagster dev`,
dbt and the tests all see the same instance and the same warehouse.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
MAPPINGS_DIR = PROJECT_ROOT / "mappings"
DAGSTER_YAML = PROJECT_ROOT / "dagster.yaml"


class ConfigurationError(RuntimeError):
    """A setting is missing or wrong. The message says which variable to set and how."""


def env_flag(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name}={raw!r} is not a boolean; use true or false")


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name}={raw!r} is not a whole number") from exc
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{name}={value} must be at least {minimum}")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level() -> str | None:
    """PAYROLL_LOG_LEVEL (DEBUG, INFO, WARNING, ERROR or CRITICAL), or None when unset."""
    raw = os.environ.get("PAYROLL_LOG_LEVEL", "").strip()
    if not raw:
        return None
    if raw.upper() not in LOG_LEVELS:
        raise ConfigurationError(
            f"PAYROLL_LOG_LEVEL={raw!r} is not a log level; use one of {', '.join(LOG_LEVELS)}"
        )
    return raw.upper()


def erp_allow_shrink() -> bool:
    """PAYROLL_ERP_ALLOW_SHRINK: load an ERP file that empties the ERP side or removes more rows than it keeps."""
    return env_flag("PAYROLL_ERP_ALLOW_SHRINK")


def state_dir(create: bool = True) -> Path:
    """The project-local state folder (git-ignored): embedded database, Dagster home, secret key, logs.

    Created readable by its owner only (0700); an existing one is tightened to that. Exception: run
    as root, pgserver runs the embedded PostgreSQL as the system user `pgserver`, which must traverse
    this folder to its pgdata/; the folders holding data and logs inside it stay 0700.
    """
    path = Path(os.environ.get("PAYROLL_HOME") or PROJECT_ROOT / ".payroll").resolve()
    if not create:
        return path
    pgdata = path / "pgdata"
    if pgdata.is_dir() and pgdata.stat().st_uid != os.getuid():
        return path
    return owner_only_dir(path)


def owner_only_dir(path: Path) -> Path:
    """`path` as a folder only its owner can read (0700), made if missing (with missing parents)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def logs_dir() -> Path:
    """The state folder's logs/ (0700): the demo's log, the logs of failed dbt runs."""
    return owner_only_dir(state_dir() / "logs")


def dagster_home() -> Path:
    """DAGSTER_HOME: as set, else the repository root, whose dagster.yaml is the instance's configuration.

    The CLI, `payroll ui`, a `dagster dev` started in the repository and the tests therefore read the
    same dagster.yaml; its classes (pipelines/app/instance.py) put the storage in the warehouse and
    Dagster's local files in the state folder, so PAYROLL_HOME alone keeps two instances apart.
    """
    configured = os.environ.get("DAGSTER_HOME", "").strip()
    return Path(configured) if configured else PROJECT_ROOT


@contextlib.contextmanager
def temporary_env(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (None: unset) environment variables for the block; afterwards the WHOLE environment is as
    before, including what code inside the block exported (prepare_environment's DAGSTER_HOME,
    PAYROLL_DB_*, PAYROLL_EMBEDDED …), so nothing leaks out of the block."""
    saved = dict(os.environ)
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def url_for_database(server_url: str, dbname: str) -> str:
    """The same server's URL for another database (query options such as a socket `host` kept)."""
    base, _, query = server_url.partition("?")
    prefix = base.rsplit("/", 1)[0]
    return f"{prefix}/{dbname}" + (f"?{query}" if query else "")


def uses_embedded_database() -> bool:
    """True when PAYROLL_DATABASE_URL is unset (or was filled in by us from the embedded server)."""
    return os.environ.get("PAYROLL_EMBEDDED") == "1" or not os.environ.get("PAYROLL_DATABASE_URL", "").strip()


def database_url(start_embedded: bool = True) -> str:
    """The warehouse URL: PAYROLL_DATABASE_URL, or the embedded PostgreSQL (started if needed)."""
    url = os.environ.get("PAYROLL_DATABASE_URL", "").strip()
    if url and os.environ.get("PAYROLL_EMBEDDED") != "1":
        check_database_url(url)
        return url
    if not start_embedded:
        if url:  # exported by prepare_environment() from the running embedded server
            return url
        raise ConfigurationError("PAYROLL_DATABASE_URL is not set and the embedded database is not running")
    from pipelines.lib import embedded_db

    return embedded_db.start().url


def check_database_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"postgresql", "postgres", "postgresql+psycopg2"}:
        raise ConfigurationError(
            f"PAYROLL_DATABASE_URL must be a PostgreSQL URL such as "
            f"postgresql://user:password@host:5432/dbname, not scheme {parts.scheme!r}"
        )
    if not parts.path.strip("/"):
        raise ConfigurationError("PAYROLL_DATABASE_URL names no database: add /dbname at the end")


def sqlalchemy_url(url: str) -> str:
    """Dagster and SQLAlchemy need the psycopg2 driver named explicitly (SQLAlchemy 2.1 defaults to psycopg 3)."""
    scheme, rest = url.split("://", 1)
    if scheme in {"postgresql", "postgres"}:
        scheme = "postgresql+psycopg2"
    return f"{scheme}://{rest}"


@dataclass(frozen=True)
class DsnParts:
    host: str
    port: int
    user: str
    password: str
    dbname: str


def dsn_parts(url: str) -> DsnParts:
    """Split a URL into the parts dbt's profile takes. A Unix socket is `?host=/dir`."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "127.0.0.1"])[0]
    port = int(query.get("port", [parts.port or 5432])[0])
    return DsnParts(
        host=host,
        port=port,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        dbname=parts.path.lstrip("/") or "postgres",
    )


def describe_server(url: str) -> str:
    """Where the database server is, for messages: `host:port`, or `the socket in /dir (port N)` for
    a Unix socket folder (`?host=/dir`), never the folder as if it were a host name."""
    parts = dsn_parts(url)
    if parts.host.startswith("/"):
        return f"the socket in {parts.host} (port {parts.port})"
    return f"{parts.host}:{parts.port}"


def redacted_url(url: str) -> str:
    """The database URL with its password shown as ***, for messages and summaries."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{hostport}").geturl()


TELEMETRY_OFF = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DAGSTER_DISABLE_TELEMETRY": "1"}


def dbt_profile_env(url: str) -> dict[str, str]:
    """The PAYROLL_DB_* variables dbt_project/profiles.yml reads, for the database at `url`."""
    dsn = dsn_parts(url)
    return {
        "PAYROLL_DB_HOST": dsn.host,
        "PAYROLL_DB_PORT": str(dsn.port),
        "PAYROLL_DB_USER": dsn.user,
        "PAYROLL_DB_PASSWORD": dsn.password,
        "PAYROLL_DB_NAME": dsn.dbname,
    }


def export_dbt_profile(url: str) -> None:
    """Point dbt (profiles.yml) at the database at `url`, for the dbt commands this process starts."""
    os.environ.update({**dbt_profile_env(url), **TELEMETRY_OFF})


def prepare_environment(start_embedded: bool = True) -> dict[str, str]:
    """Resolve the database and export what Dagster (dagster.yaml) and dbt (profiles.yml) read.

    Idempotent; every entry point (CLI, the Dagster instance, tests) calls it first.
    """
    url = database_url(start_embedded=start_embedded)
    values = {
        "PAYROLL_DATABASE_URL": url,
        "DAGSTER_HOME": str(dagster_home()),
        **dbt_profile_env(url),
        **TELEMETRY_OFF,
    }
    if uses_embedded_database():
        # Subprocesses (dagster dev, dbt, the daemon) then reuse the same embedded server.
        values["PAYROLL_EMBEDDED"] = "1"
    os.environ.update(values)
    return values


START_YEAR_VARIABLE = "PAYROLL_START_YEAR"
EARLIEST_YEAR = 1990


def start_year(today: dt.date | None = None) -> int:
    """PAYROLL_START_YEAR, the first payroll year to load; default last year."""
    current = (today or dt.date.today()).year
    raw = os.environ.get(START_YEAR_VARIABLE, "").strip()
    if not raw:
        return current - 1
    if raw.isdigit() and EARLIEST_YEAR <= int(raw) <= current:
        return int(raw)
    raise ConfigurationError(
        f"{START_YEAR_VARIABLE}={raw!r} is not a year between {EARLIEST_YEAR} and {current}; "
        f"set it to the first payroll year to load, for example {current - 1}"
    )


def payroll_years(today: dt.date | None = None) -> list[int]:
    """The payroll years to load: PAYROLL_START_YEAR up to and including the current year."""
    current = (today or dt.date.today()).year
    return list(range(start_year(today), current + 1))


def set_start_year(year: int) -> None:
    """Export PAYROLL_START_YEAR for a `--since` option, checked as the variable is."""
    current = dt.date.today().year
    if not EARLIEST_YEAR <= year <= current:
        raise ConfigurationError(f"--since {year} is not a year between {EARLIEST_YEAR} and {current}")
    os.environ[START_YEAR_VARIABLE] = str(year)


DEFAULT_SANDBOX_PORT = 8765


def sandbox_port(minimum: int = 1) -> int:
    """PAYROLL_SANDBOX_PORT: where the demo sandbox serves (default 8765; `payroll sandbox` allows 0)."""
    return env_int("PAYROLL_SANDBOX_PORT", DEFAULT_SANDBOX_PORT, minimum=minimum)


def store_personal_data() -> bool:
    """PAYROLL_STORE_PERSONAL_DATA: load BSN, birth date and work e-mail into the restricted schema."""
    return env_flag("PAYROLL_STORE_PERSONAL_DATA")
