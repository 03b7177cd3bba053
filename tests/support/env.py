"""The environment of one isolated pipeline instance, and where tests leave their artifacts."""

from __future__ import annotations

import os
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def make_env(database_url: str, home: Path, nmbrs: dict[str, str]) -> dict[str, str | None]:
    """Environment for one isolated pipeline instance: its own warehouse, state folder and Nmbrs."""
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("NMBRS_")}
    env.update(
        {
            "PAYROLL_DATABASE_URL": database_url,
            "PAYROLL_EMBEDDED": None,
            "PAYROLL_HOME": str(home),
            "PAYROLL_ERP_DIR": None,
            "DAGSTER_HOME": None,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    env.update(nmbrs)
    return env
