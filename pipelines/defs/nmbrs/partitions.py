"""How the Nmbrs data is cut: per company (discovered at run time) × payroll year.

The years are `settings.payroll_years()` (PAYROLL_START_YEAR to this year) when the definitions load.
`register_companies` is the one way a company gets its partition: the `nmbrs/companies` asset, the
new-companies sensor (as a request) and `payroll backfill` all go through it; `payroll db rekey`
also, then `retire_companies` for the SOAP-id keys of a warehouse made before the number keys.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from pipelines.lib import settings

COMPANIES = "nmbrs_companies"

company_partitions = dg.DynamicPartitionsDefinition(name=COMPANIES)

company_year = dg.MultiPartitionsDefinition(
    {
        "company": company_partitions,
        "year": dg.StaticPartitionsDefinition([str(year) for year in settings.payroll_years()]),
    }
)


def loaded_years() -> list[int]:
    """The years of the company_year partitions this process loaded."""
    return [int(year) for year in company_year.get_partitions_def_for_dimension("year").get_partition_keys()]


def company_year_key(company_id: int | str, year: int | str) -> str:
    """The partition key string for one company-year (dimension order is fixed by Dagster: sorted names)."""
    return dg.MultiPartitionKey({"company": str(company_id), "year": str(year)})


def split_company_year(key: str | dg.MultiPartitionKey) -> tuple[int, int]:
    """(company_id, year) of a company_year partition key."""
    if not isinstance(key, dg.MultiPartitionKey):
        key = company_year.get_partition_key_from_str(key)
    dims = key.keys_by_dimension
    return int(dims["company"]), int(dims["year"])


def registered_companies(instance: dg.DagsterInstance) -> list[str]:
    """The company partition keys the instance knows, in company-id order."""
    return sorted(instance.get_dynamic_partitions(COMPANIES), key=int)


def unregistered(instance: dg.DagsterInstance, company_ids: Iterable[int | str]) -> list[str]:
    """The companies of `company_ids` that have no partition yet, in the order given."""
    known = set(instance.get_dynamic_partitions(COMPANIES))
    return list(dict.fromkeys(key for key in map(str, company_ids) if key not in known))


def register_companies(instance: dg.DagsterInstance, company_ids: Iterable[int | str]) -> list[str]:
    """Add a partition for every company of `company_ids` that has none; returns the added ones."""
    added = unregistered(instance, company_ids)
    if added:
        instance.add_dynamic_partitions(COMPANIES, added)
    return added


def retire_companies(instance: dg.DagsterInstance, company_ids: Iterable[int | str]) -> list[str]:
    """Delete the partition of every company of `company_ids` that has one (a key that no longer names
    a company: the SOAP ids of a re-keyed warehouse, docs/upgrading.md); returns the deleted ones."""
    known = set(instance.get_dynamic_partitions(COMPANIES))
    deleted = [key for key in dict.fromkeys(map(str, company_ids)) if key in known]
    for key in deleted:
        instance.delete_dynamic_partition(COMPANIES, key)
    return deleted


def register_companies_request(
    instance: dg.DagsterInstance, company_ids: Iterable[int | str]
) -> dg.AddDynamicPartitionsRequest | None:
    """The same registration as a sensor's request (recorded with its tick), or None if nothing is new."""
    added = unregistered(instance, company_ids)
    return (
        dg.AddDynamicPartitionsRequest(partitions_def_name=COMPANIES, partition_keys=added) if added else None
    )
