"""Demo mode plumbing: the local Nmbrs sandbox on PAYROLL_SANDBOX_PORT and its REST connection.

With no NMBRS_* variable set, the pipeline talks to the sandbox at 127.0.0.1:PAYROLL_SANDBOX_PORT.
`demo_sandbox_if_needed()` makes sure this state folder's sandbox serves there: it reuses the
sandbox the state folder already runs (another `payroll ui` or `payroll sandbox` of this checkout,
checked by the record in the state folder: lib/sandbox_record.py), or starts one in this process and
stops it on exit, so no stray server is left behind. A sandbox this state folder did not start (the
demo of another clone) is never reused: when it holds PAYROLL_SANDBOX_PORT, the new sandbox takes a
free port, and PAYROLL_SANDBOX_PORT names that port while the sandbox serves. It also makes sure the REST API is connected:
the sandbox keeps its OAuth grants in memory, so a token stored during an earlier sandbox's life is
refused by a new one; the consent step is then repeated automatically (only ever against 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pipelines.lib import sandbox_record, settings
from pipelines.lib.nmbrs import oauth
from pipelines.lib.nmbrs.config import NmbrsSettings, is_local_url
from pipelines.lib.nmbrs.errors import ReconnectRequired
from pipelines.lib.nmbrs.rest import NmbrsRestClient
from pipelines.lib.nmbrs.tokens import TokenStore
from pipelines.lib.sandbox_record import SandboxRecord
from pipelines.lib.settings import ConfigurationError, env_int, temporary_env

DEMO_SCENARIO = "demo"
DEMO_SEED = 42
SANDBOX_HOST = "127.0.0.1"


@dataclass(frozen=True)
class SandboxHandle:
    url: str
    started_here: bool


def quiet_runtime_dir_warning() -> None:
    """pgserver's platformdirs warns that the embedded database's runtime folder is not mode 0700; harmless."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def sandbox_port() -> int:
    return env_int("PAYROLL_SANDBOX_PORT", 8765, minimum=1)


@contextlib.contextmanager
def demo_sandbox(echo: Callable[[str], None] = print) -> Iterator[SandboxHandle]:
    """Serve the demo sandbox for the duration of the block: the one this state folder already runs
    (its record in the state folder checks out), else a new one on PAYROLL_SANDBOX_PORT, or on a free
    port when that one is taken. PAYROLL_SANDBOX_PORT names the port in use inside the block, so
    that the demo-mode Nmbrs settings (and the processes started in the block) reach this sandbox."""
    record = sandbox_record.live()
    if record is not None:
        echo(
            f"sandbox: reusing the Nmbrs sandbox this state folder started at {record.url} (process {record.pid})"
        )
        with temporary_env({"PAYROLL_SANDBOX_PORT": str(record.port)}):
            yield SandboxHandle(record.url, started_here=False)
        return
    server = _start_sandbox(echo)
    sandbox_record.write(SandboxRecord(server.url, server.port, os.getpid(), server.state.instance_id))
    echo(f"sandbox: started the Nmbrs sandbox (scenario {DEMO_SCENARIO}, seed {DEMO_SEED}) at {server.url}")
    try:
        with temporary_env({"PAYROLL_SANDBOX_PORT": str(server.port)}):
            yield SandboxHandle(server.url, started_here=True)
    finally:
        sandbox_record.remove(server.state.instance_id)
        server.stop()


def _start_sandbox(echo: Callable[[str], None]):
    """A new demo sandbox on PAYROLL_SANDBOX_PORT, or on a free port when another process has it."""
    from pipelines.sandbox.server import SandboxServer

    port = sandbox_port()
    try:
        return SandboxServer.start(scenario=DEMO_SCENARIO, seed=DEMO_SEED, host=SANDBOX_HOST, port=port)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
    server = SandboxServer.start(scenario=DEMO_SCENARIO, seed=DEMO_SEED, host=SANDBOX_HOST, port=0)
    echo(
        f"sandbox: port {port} is in use by another process (another clone's sandbox?), so this state "
        f"folder's sandbox takes the free port {server.port}"
    )
    return server


def ensure_sandbox_connection(nmbrs: NmbrsSettings, echo: Callable[[str], None] = print) -> None:
    """Make the stored REST connection work against the local sandbox, connecting again if needed.

    A stored connection is tried with one API call; a refused one (from an earlier sandbox) is
    replaced by a new authorization-code flow whose consent step is answered automatically.
    """
    if not nmbrs.uses_rest:
        return
    if not is_local_url(nmbrs.identity_url):
        raise ConfigurationError(
            f"the automatic REST connection is only for the local sandbox, not {nmbrs.identity_url}; "
            "run `payroll connect` instead"
        )
    settings.prepare_environment()
    store = TokenStore(os.environ["PAYROLL_DATABASE_URL"], nmbrs)
    if store.is_connected():
        try:
            with NmbrsRestClient(nmbrs, store) as client:
                client.companies()
        except ReconnectRequired:
            echo("REST: the stored token was issued by an earlier sandbox; connecting again")
        else:
            echo("REST: reusing the stored connection")
            return
    # Any free local port: the sandbox accepts http://127.0.0.1:*/callback.
    local = dataclasses.replace(nmbrs, redirect_uri="http://127.0.0.1:0/callback")
    oauth.connect(local, store, show_url=lambda _url: None, auto_approve=True)
    echo("REST: connected to the sandbox (OAuth with PKCE, consent approved automatically; token stored)")


@contextlib.contextmanager
def demo_sandbox_if_needed(echo: Callable[[str], None] = print) -> Iterator[SandboxHandle | None]:
    """In demo mode (no NMBRS_* set) serve the sandbox and connect REST to it; otherwise do nothing."""
    if not NmbrsSettings.from_env().demo:
        yield None
        return
    with demo_sandbox(echo) as handle:
        ensure_sandbox_connection(NmbrsSettings.from_env(), echo)  # the settings of the port in use
        yield handle
