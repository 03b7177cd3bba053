"""Call counters: requests per endpoint key and the peak number of requests in flight at once."""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager


class Counters:
    """Keys look like `soap:CompanyService.Run_GetList`, `rest:runs`, `identity:token`, `wsdl:ReportService`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._family_in_flight: Counter[str] = Counter()
        self.max_in_flight_by_family: Counter[str] = Counter()

    @contextmanager
    def track(self, key: str):
        family = key.split(":", 1)[0]
        with self._lock:
            self.calls[key] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._family_in_flight[family] += 1
            self.max_in_flight_by_family[family] = max(
                self.max_in_flight_by_family[family], self._family_in_flight[family]
            )
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1
                self._family_in_flight[family] -= 1

    def total(self, prefix: str = "") -> int:
        with self._lock:
            return sum(n for key, n in self.calls.items() if key.startswith(prefix))

    def reset(self) -> None:
        """Forget counts and peaks (requests in flight right now keep counting towards the new peak)."""
        with self._lock:
            self.calls.clear()
            self.max_in_flight = self.in_flight
            self.max_in_flight_by_family = Counter({k: v for k, v in self._family_in_flight.items() if v})

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "calls": dict(sorted(self.calls.items())),
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "max_in_flight_by_family": dict(self.max_in_flight_by_family),
            }
