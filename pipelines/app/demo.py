"""Demo mode plumbing: the local Nmbrs sandbox on PAYROLL_SANDBOX_PORT, its REST connection and its ERP files.

With no NMBRS_* variable set, the pipeline talks to the sandbox at 127.0.0.1:PAYROLL_SANDBOX_PORT.
`demo_sandbox_if_needed()` makes sure something serves there: it reuses a sandbox that already
answers on that port (another `payroll sandbox` or `payroll ui`), or starts one in this process and
stops it on exit, so no stray server is left behind. It also makes sure the REST API is connected:
the sandbox keeps its OAuth grants in memory, so a token stored during an earlier sandbox's life is
refused by a new one; the consent step is then repeated automatically (only ever against 127.0.0.1).
When Nmbrs is the local sandbox, `use_sandbox_erp_files()` points PAYROLL_ERP_DIR at the sandbox's
demo ERP files; a real Nmbrs never gets them (fake GL movements would reconcile against real payroll).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from pipelines.lib import erp, settings
from pipelines.lib.nmbrs import oauth
from pipelines.lib.nmbrs.config import NmbrsSettings, is_local_url
from pipelines.lib.nmbrs.errors import ReconnectRequired
from pipelines.lib.nmbrs.rest import NmbrsRestClient
from pipelines.lib.nmbrs.tokens import TokenStore
from pipelines.lib.settings import ConfigurationError

DEMO_SCENARIO = "demo"
DEMO_SEED = 42
SANDBOX_HOST = "127.0.0.1"
PROBE_TIMEOUT_SECONDS = 3
# Any free local port: the sandbox accepts http://127.0.0.1:*/callback.
LOCAL_REDIRECT_URI = "http://127.0.0.1:0/callback"


@dataclass(frozen=True)
class SandboxHandle:
    url: str
    started_here: bool


def quiet_runtime_dir_warning() -> None:
    """pgserver's platformdirs warns that the embedded database's runtime folder is not mode 0700; harmless."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(PROBE_TIMEOUT_SECONDS)
        return sock.connect_ex((host, port)) == 0


def _is_sandbox(url: str) -> bool:
    """The sandbox answers the OpenID discovery document with itself as issuer."""
    try:
        response = requests.get(f"{url}/.well-known/openid-configuration", timeout=PROBE_TIMEOUT_SECONDS)
        issuer = response.json().get("issuer", "") if response.ok else ""
    except (requests.RequestException, ValueError):
        return False
    return issuer.rstrip("/") == url


@contextlib.contextmanager
def demo_sandbox(echo: Callable[[str], None] = print) -> Iterator[SandboxHandle]:
    """Serve the demo sandbox on PAYROLL_SANDBOX_PORT for the duration of the block (or reuse one)."""
    port = settings.sandbox_port()
    url = f"http://{SANDBOX_HOST}:{port}"
    if _port_open(SANDBOX_HOST, port):
        if not _is_sandbox(url):
            raise ConfigurationError(
                f"port {port} is in use by something that is not the Nmbrs sandbox; "
                "set PAYROLL_SANDBOX_PORT to a free port"
            )
        echo(f"sandbox: reusing the Nmbrs sandbox already serving at {url}")
        yield SandboxHandle(url, started_here=False)
        return
    from pipelines.sandbox.server import SandboxServer

    with SandboxServer.start(scenario=DEMO_SCENARIO, seed=DEMO_SEED, host=SANDBOX_HOST, port=port) as server:
        echo(
            f"sandbox: started the Nmbrs sandbox (scenario {DEMO_SCENARIO}, seed {DEMO_SEED}) at {server.url}"
        )
        yield SandboxHandle(server.url, started_here=True)


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
        ensure_sandbox_connection(nmbrs, echo)
        yield handle
