"""Background report tasks: Enqueued -> Executing -> Success over a configurable time.

The report content is built when the task is created (a snapshot of the data at that moment).
A task may be told to end in Error or Unknown instead, or to take longer (fault injection).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass


@dataclass
class Task:
    id: str
    token: str
    created: float
    seconds: float
    outcome: str  # Success | Error | Unknown
    content: str

    def status(self, now: float) -> str:
        elapsed = now - self.created
        if elapsed < self.seconds / 3:
            return "Enqueued"
        if elapsed < self.seconds:
            return "Executing"
        return self.outcome


class TaskStore:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}

    def create(
        self, token: str, content: str, outcome: str = "Success", seconds: float | None = None
    ) -> Task:
        task = Task(
            str(uuid.uuid4()),
            token,
            time.monotonic(),
            self.seconds if seconds is None else seconds,
            outcome,
            content,
        )
        with self._lock:
            self._tasks[task.id] = task
        return task

    def get(self, task_id: str) -> Task | None:
        with self._lock:
            return self._tasks.get(task_id.strip().lower())
