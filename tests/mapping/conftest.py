"""Fixtures for the mapping checks: a private copy of mappings/ and the demo ERP chart."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.lib.settings import MAPPINGS_DIR
from pipelines.sandbox.erp import write_erp_files


@pytest.fixture
def mappings_copy(tmp_path: Path) -> Path:
    """A copy of the project's mapping CSVs that a test may edit."""
    target = tmp_path / "mappings"
    target.mkdir()
    for csv_file in MAPPINGS_DIR.glob("*.csv"):
        shutil.copyfile(csv_file, target / csv_file.name)
    return target


@pytest.fixture(scope="session")
def erp_chart(tmp_path_factory) -> Path:
    """The demo ERP's chart_of_accounts.csv, as the sandbox writes it."""
    return write_erp_files(tmp_path_factory.mktemp("erp")) / "chart_of_accounts.csv"
