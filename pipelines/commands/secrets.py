"""`payroll secrets`: the key that encrypts the stored Nmbrs tokens (pipelines/lib/encryption.py)."""

from __future__ import annotations

import functools
import os

import click

from pipelines.lib import encryption, settings
from pipelines.lib.nmbrs.errors import ReconnectRequired
from pipelines.lib.nmbrs.tokens import reencrypt_all


@click.group(name="secrets")
def command() -> None:
    """The secret key that encrypts the stored Nmbrs REST tokens: rotate it, or make a new one.

    The key is PAYROLL_SECRET_KEY when set, else the key file secret.key in the state folder
    (PAYROLL_HOME, mode 0600). A lost key only means running `payroll connect` again.
    """


@command.command(name="rotate-key")
def rotate_key() -> None:
    """Re-encrypt every stored token with a new key, in one transaction.

    With the key file, a new key is generated and the old one removed. With PAYROLL_SECRET_KEY, put
    the new key first (PAYROLL_SECRET_KEY=<new>,<old>), run this, then remove the old key.
    """
    settings.prepare_environment()
    reencrypt = functools.partial(reencrypt_all, os.environ["PAYROLL_DATABASE_URL"])
    try:
        rotation = encryption.rotate_key(reencrypt)
    except ReconnectRequired as exc:
        click.secho(f"payroll secrets rotate-key failed: {exc}", fg="red", err=True)
        raise SystemExit(1) from None
    click.secho(
        f"Rotated: {rotation.values} stored connection(s) re-encrypted with the new key ({rotation.source}).",
        fg="green",
    )
    click.echo(rotation.note)


@command.command(name="generate-key")
def generate_key() -> None:
    """Print a new key for PAYROLL_SECRET_KEY (nothing is stored or changed)."""
    click.echo(encryption.generate_key())
