"""Nmbrs connection settings, read from NMBRS_* environment variables.

`NmbrsSettings.from_env()` is the only place that reads them. With none of the connection
variables set, it returns **demo mode**: the local sandbox on PAYROLL_SANDBOX_PORT (8765) with the
sandbox's default credentials (docs/design.md).

Source modes (pipelines/defs/nmbrs/source.py): `rest` (everything from REST, the run output
included), `rest+soap` (REST, and SOAP cross-checks the company and employee listings), `soap`
(everything from SOAP). NMBRS_SOURCE_MODE picks one. The default is `rest` whenever REST is
configured (the demo sandbox included), `soap` only when REST is not configured. A mode whose
variables are missing raises ConfigurationError naming them.

The SOAP sunset: Nmbrs retires SOAP on SOAP_SUNSET. From that day a mode that calls SOAP (`soap`,
`rest+soap`) against real Nmbrs is refused unless NMBRS_FORCE_SOAP=1 is set (a local sandbox keeps
serving SOAP, so it is exempt). "Today" comes from one clock, `from_env(today=...)` (default
`today()`), so that tests pin it.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit

from pipelines.lib.settings import ConfigurationError, env_int, sandbox_port

SOURCE_MODES = ("rest", "rest+soap", "soap")
SOAP_SUNSET = dt.date(2027, 3, 1)  # Nmbrs retires the SOAP API on this day (docs/nmbrs-api.md)
FORCE_SOAP_VARIABLE = "NMBRS_FORCE_SOAP"  # =1: call SOAP after the sunset anyway

DEFAULT_SOAP_URL = "https://api.nmbrs.nl/soap/v3/"
DEFAULT_REST_URL = "https://api.nmbrsapp.com"
DEFAULT_IDENTITY_URL = "https://identityservice.nmbrs.com"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:53682/callback"
SANDBOX_REDIRECT_URI = "http://127.0.0.1:0/callback"  # port 0: the listener takes a free port
# The scopes the product reads with (docs/nmbrs-api.md); one scope the app may not ask for refuses
# the whole consent request, so nothing beyond these is asked.
DEFAULT_SCOPES = (
    "company.info.read",
    "company.payrollsettings.read",
    "employee.info.read",
    "employee.payment.read",
    "company.document.read",
    "document.read",
    "offline_access",
)
LOCAL_POLL = (0.2, 2.0)  # first and longest wait between polls of report/document tasks (seconds)
REMOTE_POLL = (5.0, 60.0)

SANDBOX_CREDENTIALS = {
    "username": "demo@payroll.example",
    "token": "sandbox-token",
    "domain": "payrolldemo",
    "client_id": "payroll-sandbox",
    "client_secret": "sandbox-secret%+*$:/",
    "subscription_key": "sandbox-subscription-key",
}

# Variables whose presence switches demo mode off (tuning variables such as the timeout do not).
CONNECTION_VARIABLES = (
    "NMBRS_SOAP_URL",
    "NMBRS_USERNAME",
    "NMBRS_TOKEN",
    "NMBRS_DOMAIN",
    "NMBRS_REST_URL",
    "NMBRS_IDENTITY_URL",
    "NMBRS_CLIENT_ID",
    "NMBRS_CLIENT_SECRET",
    "NMBRS_SUBSCRIPTION_KEY",
)
SOAP_REQUIRED = ("NMBRS_USERNAME", "NMBRS_TOKEN")
REST_REQUIRED = ("NMBRS_CLIENT_ID", "NMBRS_CLIENT_SECRET", "NMBRS_SUBSCRIPTION_KEY")
_SECRET_FIELDS = {"token", "client_secret", "subscription_key"}


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _check_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigurationError(f"{name}={value!r} is not an http(s) URL; for example {DEFAULT_REST_URL}")
    return value


def is_local_url(url: str) -> bool:
    """True for loopback addresses: the sandbox, never real Nmbrs."""
    return (urlsplit(url).hostname or "") in {"127.0.0.1", "localhost", "::1"}


def poll_interval(url: str) -> tuple[float, float]:
    """How often to ask for a background task: a local sandbox finishes in well under a second, real
    Nmbrs gets the 5 s doubling to 60 s that public clients use."""
    return LOCAL_POLL if is_local_url(url) else REMOTE_POLL


@dataclass(frozen=True)
class NmbrsSettings:
    soap_url: str = DEFAULT_SOAP_URL
    username: str = ""
    token: str = field(default="", repr=False)
    domain: str = ""
    rest_url: str = DEFAULT_REST_URL
    identity_url: str = DEFAULT_IDENTITY_URL
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    subscription_key: str = field(default="", repr=False)
    source_mode: str = "soap"
    timeout_seconds: int = 30
    report_deadline_seconds: int = 3600
    max_response_mb: int = 50  # non-report answers (listings, statuses); reports stream (bounded.py)
    redirect_uri: str = DEFAULT_REDIRECT_URI
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    demo: bool = False

    @property
    def max_response_bytes(self) -> int:
        return self.max_response_mb << 20

    @property
    def soap_configured(self) -> bool:
        return bool(self.username and self.token)

    @property
    def rest_configured(self) -> bool:
        return bool(self.client_id and self.client_secret and self.subscription_key)

    @property
    def uses_soap(self) -> bool:
        return self.source_mode in {"rest+soap", "soap"}

    @property
    def uses_rest(self) -> bool:
        return self.source_mode in {"rest+soap", "rest"}

    @property
    def is_sandbox(self) -> bool:
        """Demo mode, or every configured Nmbrs URL on this machine: the local sandbox, never real Nmbrs."""
        urls = [self.soap_url] if self.soap_configured else []
        urls += [self.rest_url, self.identity_url] if self.rest_configured else []
        return self.demo or all(is_local_url(url) for url in urls)

    @property
    def connection_name(self) -> str:
        """Key of this REST connection's row in payroll_private.oauth_tokens."""
        return f"{self.client_id}@{urlsplit(self.identity_url).netloc}"

    @property
    def soap_base(self) -> str:
        return self.soap_url if self.soap_url.endswith("/") else self.soap_url + "/"

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRET_FIELDS:
                value = "***" if value else ""
            shown.append(f"{f.name}={value!r}")
        return f"NmbrsSettings({', '.join(shown)})"

    __str__ = __repr__

    @classmethod
    def from_env(cls, today: dt.date | None = None) -> NmbrsSettings:
        """The settings from the environment; `today` (default `today()`) decides the SOAP sunset."""
        today = today or globals()["today"]()
        timeout = env_int("NMBRS_TIMEOUT_SECONDS", 30, minimum=1)
        deadline = env_int("NMBRS_REPORT_DEADLINE_SECONDS", 3600, minimum=1)
        max_response_mb = env_int("NMBRS_MAX_RESPONSE_MB", 50, minimum=1)
        scopes = tuple(_env("NMBRS_SCOPES").split()) or DEFAULT_SCOPES
        requested = _env("NMBRS_SOURCE_MODE").lower()
        if requested and requested not in SOURCE_MODES:
            raise ConfigurationError(
                f"NMBRS_SOURCE_MODE={requested!r} is not one of {', '.join(SOURCE_MODES)}"
            )
        if not any(_env(name) for name in CONNECTION_VARIABLES):
            base = f"http://127.0.0.1:{sandbox_port()}"
            return cls(
                soap_url=f"{base}/soap/v3/",
                rest_url=base,
                identity_url=base,
                source_mode=requested or "rest",
                timeout_seconds=timeout,
                report_deadline_seconds=deadline,
                max_response_mb=max_response_mb,
                redirect_uri=_env("NMBRS_REDIRECT_URI") or SANDBOX_REDIRECT_URI,
                scopes=scopes,
                demo=True,
                **SANDBOX_CREDENTIALS,
            )
        identity_url = _check_url("NMBRS_IDENTITY_URL", _env("NMBRS_IDENTITY_URL") or DEFAULT_IDENTITY_URL)
        # Real Nmbrs only redirects to the registered URI (fixed port); a local sandbox takes any port,
        # so it gets a free one and concurrent `payroll connect`/syncs never collide on 53682.
        default_redirect = SANDBOX_REDIRECT_URI if is_local_url(identity_url) else DEFAULT_REDIRECT_URI
        values = cls(
            soap_url=_check_url("NMBRS_SOAP_URL", _env("NMBRS_SOAP_URL") or DEFAULT_SOAP_URL),
            username=_env("NMBRS_USERNAME"),
            token=_env("NMBRS_TOKEN"),
            domain=_env("NMBRS_DOMAIN"),
            rest_url=_check_url("NMBRS_REST_URL", _env("NMBRS_REST_URL") or DEFAULT_REST_URL).rstrip("/"),
            identity_url=identity_url.rstrip("/"),
            client_id=_env("NMBRS_CLIENT_ID"),
            client_secret=_env("NMBRS_CLIENT_SECRET"),
            subscription_key=_env("NMBRS_SUBSCRIPTION_KEY"),
            timeout_seconds=timeout,
            report_deadline_seconds=deadline,
            max_response_mb=max_response_mb,
            redirect_uri=_check_url("NMBRS_REDIRECT_URI", _env("NMBRS_REDIRECT_URI") or default_redirect),
            scopes=scopes,
        )
        mode = requested or _default_mode(values)
        _require(mode)
        _check_sunset(mode, values, today, requested)
        return cls(**{**{f.name: getattr(values, f.name) for f in fields(values)}, "source_mode": mode})


def _missing(names: tuple[str, ...]) -> list[str]:
    return [name for name in names if not _env(name)]


def today() -> dt.date:
    """The clock of date-driven settings (the SOAP sunset): the system date. Tests pass `today=`."""
    return dt.date.today()


def soap_forced() -> bool:
    return _env(FORCE_SOAP_VARIABLE).lower() in {"1", "true", "yes"}


def _check_sunset(mode: str, values: NmbrsSettings, today: dt.date, requested: str) -> None:
    """From SOAP_SUNSET, SOAP against real Nmbrs is only called when the user forces it."""
    if mode == "rest" or today < SOAP_SUNSET or soap_forced() or is_local_url(values.soap_url):
        return
    how = (
        f"NMBRS_SOURCE_MODE={mode}"
        if requested
        else "only the SOAP API is configured, so the default mode soap"
    )
    raise ConfigurationError(
        f"Nmbrs retired the SOAP API on {SOAP_SUNSET.isoformat()}, and {how} calls it. Fix: configure the REST "
        f"API ({', '.join(REST_REQUIRED)}, then `payroll connect`; see docs/connecting-nmbrs.md) and use "
        f"NMBRS_SOURCE_MODE=rest, or set {FORCE_SOAP_VARIABLE}=1 to call SOAP anyway"
    )


def _default_mode(values: NmbrsSettings) -> str:
    if values.rest_configured:
        return "rest"
    if values.soap_configured:
        return "soap"
    raise ConfigurationError(
        "Nmbrs is only partly configured. For the SOAP API set "
        f"{', '.join(_missing(SOAP_REQUIRED)) or 'nothing more'}; for the REST API set "
        f"{', '.join(_missing(REST_REQUIRED)) or 'nothing more'} (then run `payroll connect`). "
        "Unset every NMBRS_* variable to use the local demo sandbox"
    )


def _require(mode: str) -> None:
    needed = {"rest+soap": SOAP_REQUIRED + REST_REQUIRED, "soap": SOAP_REQUIRED, "rest": REST_REQUIRED}[mode]
    missing = _missing(needed)
    if missing:
        raise ConfigurationError(
            f"NMBRS_SOURCE_MODE={mode} needs {', '.join(missing)}; set them (see docs/connecting-nmbrs.md) "
            "or choose another NMBRS_SOURCE_MODE"
        )
