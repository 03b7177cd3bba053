"""The company-year slice of a dbt build, passed to dbt as environment variables.

A sensor's run of one Nmbrs company-year rebuilds only that slice of the incremental marts
(dbt_project/macros/company_year_slice.sql reads PAYROLL_SLICE_COMPANY_ID and PAYROLL_SLICE_YEAR).
Environment variables rather than `--vars`: dbt parses the whole project again whenever the vars
differ from those of its saved parse state, while a changed environment variable re-parses only the
files that read it. The dbt asset (pipelines/defs/dbt/assets.py) sets them around its `dbt build`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

SLICE_ENV = ("PAYROLL_SLICE_COMPANY_ID", "PAYROLL_SLICE_YEAR")


def slice_env(company_id: int, year: int) -> dict[str, str]:
    """The environment variables that make `dbt build` rebuild one company-year slice."""
    return dict(zip(SLICE_ENV, (str(company_id), str(year)), strict=True))


@contextlib.contextmanager
def dbt_slice_environment(run_slice: Mapping[str, int] | None) -> Iterator[None]:
    """os.environ (which dagster-dbt hands to dbt) with the slice's variables, or without any for a
    full build, whatever the shell set; restored afterwards."""
    saved = {name: os.environ.get(name) for name in SLICE_ENV}
    values = slice_env(run_slice["company_id"], run_slice["year"]) if run_slice is not None else {}
    try:
        for name in SLICE_ENV:
            if name in values:
                os.environ[name] = values[name]
            else:
                os.environ.pop(name, None)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
