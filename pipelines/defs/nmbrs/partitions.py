"""How the Nmbrs data is cut: per company (discovered at run time) × payroll year."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

from pipelines.lib.settings import ConfigurationError

COMPANIES = "nmbrs_companies"
START_YEAR_VARIABLE = "PAYROLL_START_YEAR"


def payroll_years(today: dt.date | None = None) -> list[str]:
    """PAYROLL_START_YEAR (default: last year) up to and including the current year."""
    current = (today or dt.date.today()).year
    raw = os.environ.get(START_YEAR_VARIABLE, "").strip()
    if not raw:
        start = current - 1
    elif raw.isdigit() and 1990 <= int(raw) <= current:
        start = int(raw)
    else:
        raise ConfigurationError(
            f"{START_YEAR_VARIABLE}={raw!r} is not a year between 1990 and {current}; "
            f"set it to the first payroll year to load, for example {current - 1}"
        )
    return [str(year) for year in range(start, current + 1)]


company_partitions = dg.DynamicPartitionsDefinition(name=COMPANIES)

company_year = dg.MultiPartitionsDefinition(
    {"company": company_partitions, "year": dg.StaticPartitionsDefinition(payroll_years())}
)


def company_year_key(company_id: int | str, year: int | str) -> str:
    """The partition key string for one company-year (dimension order is fixed by Dagster: sorted names)."""
    return dg.MultiPartitionKey({"company": str(company_id), "year": str(year)})


def split_company_year(key: str | dg.MultiPartitionKey) -> tuple[int, int]:
    """(company_id, year) of a company_year partition key."""
    if not isinstance(key, dg.MultiPartitionKey):
        key = company_year.get_partition_key_from_str(key)
    dims = key.keys_by_dimension
    return int(dims["company"]), int(dims["year"])
