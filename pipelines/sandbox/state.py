"""The sandbox's live state: the generated world plus tokens, tasks, OAuth grants, faults and counters."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from pipelines.sandbox import contract
from pipelines.sandbox.counters import Counters
from pipelines.sandbox.faults import FaultInjector, preset_faults
from pipelines.sandbox.identity import IdentityStore
from pipelines.sandbox.model import RunInfo
from pipelines.sandbox.rest_ids import RestIds
from pipelines.sandbox.scenarios import ScenarioConfig
from pipelines.sandbox.tasks import TaskStore
from pipelines.sandbox.truth import Truth
from pipelines.sandbox.world import World


@dataclass(frozen=True)
class SoapToken:
    token: str
    username: str
    permissions: frozenset[str]
    companies: frozenset[int] | None  # None: every company


class SandboxState:
    def __init__(self, config: ScenarioConfig):
        self.config = config
        self.world = World(config)
        self.counters = Counters()
        self.faults = FaultInjector()
        self.tasks = TaskStore(config.task_seconds)
        self.identity = IdentityStore(config.access_token_seconds)
        self.truth = Truth(self.world)
        self.rest_ids = RestIds(self.world)
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._tokens = {
            contract.TOKEN: SoapToken(contract.TOKEN, contract.USERNAME, contract.ALL_OPERATIONS, None)
        }
        self._requests = 0
        self.throttle = config.throttle
        if config.preset_faults:
            preset_faults(self.faults)

    @staticmethod
    def clock() -> float:
        return time.monotonic()

    def add_token(
        self,
        permissions: Iterable[str],
        companies: Iterable[int] | None = None,
        username: str = contract.USERNAME,
    ) -> str:
        """A new SOAP token allowing only these operations (`Service.Operation` or bare names)."""
        allowed = frozenset(contract.operation_name(p) for p in permissions)
        token = f"sandbox-{secrets.token_hex(12)}"
        scope = None if companies is None else frozenset(int(c) for c in companies)
        with self._lock:
            self._tokens[token] = SoapToken(token, username, allowed, scope)
        return token

    def soap_token(self, token: str) -> SoapToken | None:
        with self._lock:
            return self._tokens.get(token)

    def add_run(self, company_id: int, year: int | None = None) -> RunInfo:
        return self.world.add_run(company_id, year)

    def correct_period(
        self,
        company_id: int,
        year: int,
        period: int,
        employee_id: int | None = None,
        delta: Decimal = Decimal("150.00"),
    ) -> RunInfo:
        return self.world.correct_period(company_id, year, period, employee_id, delta)

    def throttled(self) -> bool:
        """Deterministically answer 429 to the configured fraction of API requests."""
        with self._lock:
            self._requests += 1
            n, fraction = self._requests, self.throttle
        return fraction > 0 and int(n * fraction) > int((n - 1) * fraction)
