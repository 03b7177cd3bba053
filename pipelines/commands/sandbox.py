"""`payroll sandbox`: serve the local Nmbrs sandbox, or change a running one through its admin API."""

from __future__ import annotations

import json
import os
import signal
import threading

import click
import requests

from pipelines.lib import sandbox_record, settings


def _default_url() -> str:
    """The sandbox this state folder runs (lib/sandbox_record.py), else 127.0.0.1:PAYROLL_SANDBOX_PORT."""
    record = sandbox_record.live()
    return record.url if record is not None else f"http://127.0.0.1:{settings.sandbox_port()}"


@click.group(name="sandbox", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=int, default=None, help="Port (default: PAYROLL_SANDBOX_PORT or 8765; 0 = any free)."
)
@click.option("--scenario", type=click.Choice(["demo", "scale", "faults"]), default="demo", show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--as-of", "as_of", default=None, help="Generate data as of this date (YYYY-MM-DD; default today)."
)
@click.option(
    "--erp-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Also write the scenario's ERP CSV files into this folder.",
)
@click.option(
    "--knob",
    "knobs",
    multiple=True,
    metavar="NAME=VALUE",
    help="Scenario knob, e.g. --knob companies=50 --knob task_seconds=2 (see docs/sandbox.md).",
)
@click.pass_context
def command(
    ctx: click.Context,
    host: str,
    port: int | None,
    scenario: str,
    seed: int,
    as_of: str | None,
    erp_dir: str | None,
    knobs: tuple[str, ...],
) -> None:
    """Run a local stand-in for Nmbrs (SOAP, REST, identity) until Ctrl-C.

    Subcommands (add-run, correct, add-token, counters) talk to a running sandbox.
    """
    if ctx.invoked_subcommand is not None:
        return
    from pipelines.sandbox.erp import write_erp_files
    from pipelines.sandbox.server import SandboxServer

    values = dict(_parse_knob(k) for k in knobs)
    if as_of:
        values["as_of"] = as_of
    port = settings.sandbox_port(minimum=0) if port is None else port
    try:
        server = SandboxServer.start(scenario=scenario, seed=seed, host=host, port=port, **values)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port"
        ) from exc
    # This state folder's demo, UI and sync reuse it while it serves.
    sandbox_record.write(
        sandbox_record.SandboxRecord(server.url, server.port, os.getpid(), server.state.instance_id)
    )
    if erp_dir:
        click.echo(f"ERP files written to {write_erp_files(erp_dir, server.state.config)}")
    click.echo(f"Nmbrs sandbox ({scenario}, seed {seed}, as of {server.state.config.as_of}) at {server.url}")
    click.echo(f"SOAP {server.url}/soap/v3/   REST and identity {server.url}   admin {server.url}/_admin/")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox_record.remove(server.state.instance_id)
        server.stop()
        click.echo("sandbox stopped")


def _parse_knob(raw: str) -> tuple[str, object]:
    name, sep, value = raw.partition("=")
    if not sep:
        raise click.BadParameter(f"{raw!r} is not NAME=VALUE", param_hint="--knob")
    for convert in (int, float):
        try:
            return name.strip(), convert(value)
        except ValueError:
            continue
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return name.strip(), lowered == "true"
    return name.strip(), value


def _admin(url: str, method: str, path: str, body: dict | None = None) -> dict:
    try:
        response = requests.request(method, f"{url.rstrip('/')}/_admin/{path}", json=body, timeout=30)
    except requests.ConnectionError as exc:
        raise click.ClickException(f"no sandbox answers at {url}; start one with `payroll sandbox`") from exc
    payload = response.json()
    if response.status_code >= 400:
        raise click.ClickException(f"sandbox refused {path}: {payload.get('detail', payload)}")
    return payload


url_option = click.option(
    "--url",
    default=_default_url,
    show_default="the sandbox this state folder runs, else http://127.0.0.1:PAYROLL_SANDBOX_PORT",
    help="The running sandbox.",
)


@command.command(name="add-run")
@url_option
@click.option("--company", "company_id", type=int, required=True)
@click.option("--year", type=int, default=None, help="Default: the company's latest year (or the next one).")
def add_run(url: str, company_id: int, year: int | None) -> None:
    """Add the next period's payroll run to a company."""
    click.echo(json.dumps(_admin(url, "POST", "runs", {"company_id": company_id, "year": year}), indent=2))


@command.command(name="correct")
@url_option
@click.option("--company", "company_id", type=int, required=True)
@click.option("--year", type=int, required=True)
@click.option("--period", type=int, required=True)
@click.option("--employee", "employee_id", type=int, default=None, help="Default: the first employee paid.")
@click.option(
    "--delta", default="150.00", show_default=True, help="Change to the salary (code 1000), in euro."
)
def correct(url: str, company_id: int, year: int, period: int, employee_id: int | None, delta: str) -> None:
    """Add a correction run that changes an earlier period."""
    body = {
        "company_id": company_id,
        "year": year,
        "period": period,
        "employee_id": employee_id,
        "delta": delta,
    }
    click.echo(json.dumps(_admin(url, "POST", "corrections", body), indent=2))


@command.command(name="add-token")
@url_option
@click.option(
    "--allow",
    "permissions",
    multiple=True,
    required=True,
    help="An operation the token may call, e.g. CompanyService.List_GetAll (repeat).",
)
@click.option("--company", "companies", type=int, multiple=True, help="Limit the token to these companies.")
def add_token(url: str, permissions: tuple[str, ...], companies: tuple[int, ...]) -> None:
    """Create a SOAP token with only the given operations (prints the token)."""
    body = {"permissions": list(permissions), "companies": list(companies) or None}
    click.echo(_admin(url, "POST", "tokens", body)["token"])


@command.command(name="counters")
@url_option
def counters(url: str) -> None:
    """Show the calls per endpoint and the peak number of concurrent requests."""
    click.echo(json.dumps(_admin(url, "GET", "counters"), indent=2))
