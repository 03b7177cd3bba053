"""The REST API's identifiers for the sandbox's world: UUID strings, deterministic from the seed.

REST and SOAP are two id spaces (docs/nmbrs-api.md): company 101 to SOAP is a UUID to REST, and
neither id works in the other API. Each UUID is a uuid5 of the seed and the SOAP id, so a sandbox
restarted with the same seed serves the same ids. Runs carry theirs already (`payroll_run_id`).
Debtors: with the `debtors` knob above 1, companies are dealt over that many debtors in turn.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pipelines.sandbox.model import Company, Employee
from pipelines.sandbox.world import World

NAMESPACE = uuid.UUID("0c6f3c1e-5d0a-4b43-8f3e-2f6b1d9a7c55")


def rest_id(seed: int, kind: str, *parts: object) -> str:
    """The UUID string of one thing of a kind (company, employee, ...) in the world of `seed`."""
    return str(uuid.uuid5(NAMESPACE, ":".join((str(seed), kind, *map(str, parts)))))


@dataclass(frozen=True)
class Debtor:
    debtor_id: str
    number: str
    name: str


class RestIds:
    """UUIDs of the world's debtors, companies and employees, and the way back from a UUID."""

    def __init__(self, world: World):
        self.world = world
        self.seed = world.config.seed
        count = world.config.debtors
        self.debtors = [
            Debtor(rest_id(self.seed, "debtor", n), str(n), f"Administratiekantoor {n}")
            for n in range(1, count + 1)
        ]
        companies = world.companies()
        self._debtor_of = {c.id: self.debtors[i % count] for i, c in enumerate(companies)}
        self._companies = {self.company(c): c for c in companies}

    def company(self, company: Company) -> str:
        return rest_id(self.seed, "company", company.id)

    def debtor_of(self, company: Company) -> Debtor:
        return self._debtor_of[company.id]

    def employee(self, employee: Employee) -> str:
        return rest_id(self.seed, "employee", employee.id)

    def company_by_id(self, company_id: str) -> Company | None:
        return self._companies.get(company_id.lower())
