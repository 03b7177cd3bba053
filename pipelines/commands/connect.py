"""`payroll connect`: connect the Nmbrs REST API (OAuth 2.0 with PKCE) and store the refresh token."""

from __future__ import annotations

import webbrowser

import click

from pipelines.app import demo
from pipelines.lib import settings
from pipelines.lib.nmbrs import oauth
from pipelines.lib.nmbrs.config import NmbrsSettings, is_local_url
from pipelines.lib.nmbrs.errors import NmbrsError
from pipelines.lib.nmbrs.tokens import TokenStore


@click.command(name="connect")
@click.option("--open-browser", is_flag=True, help="Also open the URL in this machine's browser.")
@click.option(
    "--auto-approve-sandbox",
    is_flag=True,
    help="Answer the consent page automatically. Only for the local sandbox (demos and tests).",
)
@click.option("--timeout", default=300, show_default=True, help="Seconds to wait for the browser's redirect.")
def command(open_browser: bool, auto_approve_sandbox: bool, timeout: int) -> None:
    """Connect the Nmbrs REST API: prints the URL to open, waits for the redirect on 127.0.0.1,
    and stores the refresh token in the warehouse (payroll_private.oauth_tokens).

    Needs NMBRS_CLIENT_ID, NMBRS_CLIENT_SECRET and NMBRS_SUBSCRIPTION_KEY (without any NMBRS_*
    setting it connects to the local demo sandbox). Register NMBRS_REDIRECT_URI with your Nmbrs app.
    """
    database_url = settings.prepare_environment()["PAYROLL_DATABASE_URL"]
    nmbrs = NmbrsSettings.from_env()
    if not nmbrs.rest_configured:
        raise settings.ConfigurationError(
            "the REST API is not configured: set NMBRS_CLIENT_ID, NMBRS_CLIENT_SECRET and "
            "NMBRS_SUBSCRIPTION_KEY (see docs/connecting-nmbrs.md)"
        )
    if auto_approve_sandbox and not is_local_url(nmbrs.identity_url):
        raise click.UsageError(
            "--auto-approve-sandbox only works with the local sandbox (NMBRS_IDENTITY_URL on 127.0.0.1)"
        )

    def show(url: str) -> None:
        click.echo("Open this URL, sign in to Nmbrs and allow access:")
        click.echo(f"  {url}")
        if open_browser:
            webbrowser.open(url)
        if not auto_approve_sandbox:
            click.echo(f"Waiting up to {timeout} s for the redirect ...")

    with demo.demo_sandbox_if_needed(echo=click.echo):
        nmbrs = NmbrsSettings.from_env()  # in demo mode: the port the sandbox serves on
        store = TokenStore(database_url, nmbrs)
        try:
            tokens = oauth.connect(
                nmbrs, store, show_url=show, auto_approve=auto_approve_sandbox, timeout=timeout
            )
        except NmbrsError as exc:
            click.secho(f"payroll connect failed: {exc}", fg="red", err=True)
            raise SystemExit(1) from None
    click.secho(f"Connected: the refresh token is stored (connection {nmbrs.connection_name}).", fg="green")
    click.echo(f"Granted scopes: {tokens.scope or ' '.join(nmbrs.scopes)}")
    click.echo("Check the whole connection with `payroll doctor`.")
