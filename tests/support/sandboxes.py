"""The one way tests start a sandbox: `with sandboxes() as start:`, then `start(scenario, seed, **knobs)`.

Every sandbox started in the block serves on a free local port and is stopped when the block ends,
so a fixture of any scope is `with sandboxes() as start: yield start()`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from pipelines.sandbox.server import SandboxServer

StartSandbox = Callable[..., SandboxServer]


@contextlib.contextmanager
def sandboxes() -> Iterator[StartSandbox]:
    started: list[SandboxServer] = []

    def start(scenario: str = "demo", seed: int = 42, **knobs: object) -> SandboxServer:
        server = SandboxServer.start(scenario=scenario, seed=seed, host="127.0.0.1", port=0, **knobs)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()
