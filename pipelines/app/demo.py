"""Demo mode plumbing: the local Nmbrs sandbox on PAYROLL_SANDBOX_PORT, its REST connection and its ERP files.

With no NMBRS_* variable set, the pipeline talks to the sandbox at 127.0.0.1:PAYROLL_SANDBOX_PORT.
`demo_sandbox_if_needed()` makes sure this state folder's sandbox serves there: it reuses the
sandbox the state folder already runs (another `payroll ui` or `payroll sandbox` of this checkout,
checked by the record in the state folder: lib/sandbox_record.py), or starts one in this process and
stops it on exit, so no stray server is left behind. A sandbox this state folder did not start (the
demo of another clone) is never reused: when it holds PAYROLL_SANDBOX_PORT, the new sandbox takes a
free port, and PAYROLL_SANDBOX_PORT names that port while the sandbox serves. It also makes sure the
REST API is connected: the sandbox this module starts keeps its refresh grants in the state folder
(`sandbox-oauth-grants.json`, digests only), so the token stored during an earlier sandbox's life
refreshes against the new one; when it is refused all the same (another state folder's sandbox, a
deleted file), the consent step is repeated automatically (only ever against 127.0.0.1).
When Nmbrs is the local sandbox, `use_sandbox_erp_files()` points PAYROLL_ERP_DIR at the sandbox's
demo ERP files; a real Nmbrs never gets them (fake GL movements would reconcile against real payroll).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelines.lib import erp, sandbox_record, settings
from pipelines.lib.nmbrs import oauth
from pipelines.lib.nmbrs.config import NmbrsSettings, is_local_url
from pipelines.lib.nmbrs.errors import ReconnectRequired
from pipelines.lib.nmbrs.rest import NmbrsRestClient
from pipelines.lib.nmbrs.tokens import TokenStore
from pipelines.lib.sandbox_record import SandboxRecord
from pipelines.lib.settings import ConfigurationError, temporary_env

DEMO_SCENARIO = "demo"
DEMO_SEED = 42
SANDBOX_HOST = "127.0.0.1"
# Any free local port: the sandbox accepts http://127.0.0.1:*/callback.
LOCAL_REDIRECT_URI = "http://127.0.0.1:0/callback"
GRANTS_FILE = "sandbox-oauth-grants.json"


@dataclass(frozen=True)
class SandboxHandle:
    url: str
    started_here: bool


def quiet_runtime_dir_warning() -> None:
    """pgserver's platformdirs warns that the embedded database's runtime folder is not mode 0700; harmless."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


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
    # The grants the previous sandbox of this state folder issued stay valid (as Nmbrs keeps a
    # consent): the stored token refreshes instead of needing a new consent on every run.
    server.state.identity.keep_grants_in(settings.state_dir() / GRANTS_FILE)
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

    port = settings.sandbox_port()
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


def ensure_sandbox_connection(
    nmbrs: NmbrsSettings, echo: Callable[[str], None] = print, *, verify: bool = True
) -> None:
    """Make the stored REST connection work against the local sandbox, connecting again if needed.

    With `verify`, a stored connection is tried with one API call, and a refused one (from an earlier
    sandbox) is replaced; without it, a stored connection is taken as it is. A new connection runs the
    authorization-code flow with its consent step answered automatically.
    """
    if not nmbrs.uses_rest:
        return
    if not is_local_url(nmbrs.identity_url):
        raise ConfigurationError(
            f"the automatic REST connection is only for the local sandbox, not {nmbrs.identity_url}; "
            "run `payroll connect` instead"
        )
    store = TokenStore(settings.prepare_environment()["PAYROLL_DATABASE_URL"], nmbrs)
    if store.is_connected():
        if not verify:
            return
        try:
            with NmbrsRestClient(nmbrs, store) as client:
                client.companies()
        except ReconnectRequired:
            echo("REST: the stored token was issued by an earlier sandbox; connecting again")
        else:
            echo("REST: reusing the stored connection")
            return
    local = dataclasses.replace(nmbrs, redirect_uri=LOCAL_REDIRECT_URI)
    oauth.connect(local, store, show_url=lambda _url: None, auto_approve=True)
    echo("REST: connected to the sandbox (OAuth with PKCE, consent approved automatically; token stored)")


def use_sandbox_erp_files(nmbrs: NmbrsSettings) -> Path | None:
    """When PAYROLL_ERP_DIR is unset and Nmbrs is the local sandbox, write the sandbox's demo ERP files
    (`<state folder>/sandbox-erp/`) and export PAYROLL_ERP_DIR for them. Returns that folder, else None."""
    if erp.erp_dir_setting() or not nmbrs.is_sandbox:
        return None
    from pipelines.sandbox.erp import ensure_demo_erp_files

    folder = ensure_demo_erp_files()
    os.environ[erp.ERP_DIR_VARIABLE] = str(folder)
    return folder


@contextlib.contextmanager
def demo_sandbox_if_needed(echo: Callable[[str], None] = print) -> Iterator[SandboxHandle | None]:
    """In demo mode (no NMBRS_* set) serve the sandbox and connect REST to it; otherwise do nothing.
    Against a sandbox (demo mode or local NMBRS_* URLs) the ERP side is the sandbox's demo files."""
    nmbrs = NmbrsSettings.from_env()
    use_sandbox_erp_files(nmbrs)
    if not nmbrs.demo:
        yield None
        return
    with demo_sandbox(echo) as handle:
        ensure_sandbox_connection(NmbrsSettings.from_env(), echo)  # the settings of the port in use
        yield handle
