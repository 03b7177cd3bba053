"""Settings: one database setting, clear errors, the URL forms Dagster and dbt need."""

from __future__ import annotations

import pytest

from pipelines.lib import settings
from pipelines.lib.settings import temporary_env


def test_plain_postgresql_urls_get_the_psycopg2_driver_for_dagster():
    assert settings.sqlalchemy_url("postgresql://u:p@h:5432/db") == "postgresql+psycopg2://u:p@h:5432/db"
    assert settings.sqlalchemy_url("postgresql+psycopg2://h/db") == "postgresql+psycopg2://h/db"


def test_unix_socket_urls_split_into_dbt_profile_parts():
    parts = settings.dsn_parts("postgresql://postgres:@/payroll?host=/srv/payroll/.payroll/pgdata")
    assert (parts.host, parts.port, parts.user, parts.dbname) == (
        "/srv/payroll/.payroll/pgdata",
        5432,
        "postgres",
        "payroll",
    )
    tcp = settings.dsn_parts("postgresql://bi:s%40cret@db.example:6543/warehouse")
    assert (tcp.host, tcp.port, tcp.user, tcp.password, tcp.dbname) == (
        "db.example",
        6543,
        "bi",
        "s@cret",
        "warehouse",
    )


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://root@localhost/payroll", "PostgreSQL URL"),
        ("postgresql://localhost:5432", "names no database"),
    ],
)
def test_a_wrong_database_url_names_the_variable_and_the_fix(url, fragment):
    with temporary_env({"PAYROLL_DATABASE_URL": url, "PAYROLL_EMBEDDED": None}):
        with pytest.raises(settings.ConfigurationError) as err:
            settings.database_url()
    assert "PAYROLL_DATABASE_URL" in str(err.value) and fragment in str(err.value)


def test_an_unreachable_database_gives_a_clear_cli_error(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "db", "status"],
        env={
            "PATH": "/usr/bin:/bin",
            "PAYROLL_HOME": str(tmp_path),
            "PAYROLL_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/payroll",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot connect to postgresql://nobody@127.0.0.1:1/payroll" in result.stderr
    assert "Traceback" not in result.stderr


def test_boolean_and_integer_settings_reject_garbage():
    with temporary_env({"PAYROLL_X": "maybe"}):
        with pytest.raises(settings.ConfigurationError, match="PAYROLL_X='maybe' is not a boolean"):
            settings.env_flag("PAYROLL_X")
    with temporary_env({"PAYROLL_Y": "0"}):
        with pytest.raises(settings.ConfigurationError, match="at least 1"):
            settings.env_int("PAYROLL_Y", 2, minimum=1)
