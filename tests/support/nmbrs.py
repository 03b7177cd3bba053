"""Nmbrs settings and clients pointed at a sandbox, for the library tests."""

from __future__ import annotations

import os

from pipelines.lib.nmbrs.config import NmbrsSettings
from pipelines.lib.nmbrs.soap import NmbrsSoapClient
from pipelines.lib.settings import temporary_env


def settings_for(sandbox, **overrides: str | None) -> NmbrsSettings:
    """NmbrsSettings.from_env() with the sandbox's NMBRS_* (plus overrides; None unsets)."""
    env = {key: None for key in os.environ if key.startswith("NMBRS_")}
    env.update(sandbox.env_vars())
    env.update(overrides)
    with temporary_env(env):
        return NmbrsSettings.from_env()


def fast_soap(settings: NmbrsSettings) -> NmbrsSoapClient:
    return NmbrsSoapClient(settings, poll_interval=(0.05, 0.4), retry_wait=(0.01, 0.05))
