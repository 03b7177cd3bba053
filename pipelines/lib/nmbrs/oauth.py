"""OAuth 2.0 authorization-code flow with PKCE (S256) against the Nmbrs identity service.

- `new_pkce()`, `authorize_url(settings, redirect_uri, state, challenge)`: the URL the user opens.
- `RedirectListener`: a one-shot HTTP listener on 127.0.0.1 that receives `?code=&state=`.
- `exchange_code(...)` and `refresh(...)`: the token endpoint, with HTTP Basic client
  authentication whose id and secret are percent-encoded first (RFC 6749 §2.3.1,
  `basic_auth_header`): Nmbrs secrets hold `*`, `$` or `+`, and unencoded they give
  `invalid_client`. A rejected refresh token (`invalid_grant`) raises ReconnectRequired. Its answer
  is bounded like every Nmbrs answer (bounded.py): the whole request ends within
  NMBRS_TIMEOUT_SECONDS (`RequestTimedOut`, retried like a timeout) and reads at most
  NMBRS_MAX_RESPONSE_MB (`ResponseTooLarge`, never retried).
- `approve_in_sandbox(url)`: answers the sandbox's consent page, for demos and tests; refused unless
  the identity service is on this machine.
- `connect(settings, store, ...)`: the whole `payroll connect` flow; stores the refresh token.

Nothing here logs a code, a token or the client secret.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import re
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

import requests

from pipelines.lib.nmbrs.bounded import read_body
from pipelines.lib.nmbrs.config import NmbrsSettings, is_local_url
from pipelines.lib.nmbrs.errors import NmbrsTransportError, OAuthError, ReconnectRequired

AUTHORIZE_PATH = "/connect/authorize"
TOKEN_PATH = "/connect/token"


@dataclass(frozen=True)
class TokenResponse:
    access_token: str = field(repr=False)
    expires_at: dt.datetime
    refresh_token: str | None = field(default=None, repr=False)
    scope: str = ""


@dataclass(frozen=True)
class Pkce:
    verifier: str = field(repr=False)
    challenge: str


def new_pkce() -> Pkce:
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return Pkce(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


def authorize_url(settings: NmbrsSettings, redirect_uri: str, state: str, code_challenge: str) -> str:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(settings.scopes),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{settings.identity_url}{AUTHORIZE_PATH}?{query}"


def basic_auth_header(client_id: str, client_secret: str) -> str:
    """`Basic base64(urlencode(id):urlencode(secret))`, as RFC 6749 §2.3.1 asks of OAuth clients."""
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def _token_request(settings: NmbrsSettings, form: dict[str, str], what: str, session=None) -> TokenResponse:
    http = session or requests
    started = time.monotonic()
    try:
        response = http.post(
            settings.identity_url + TOKEN_PATH,
            data=form,
            headers={
                "Accept": "application/json",
                "Authorization": basic_auth_header(settings.client_id, settings.client_secret),
            },
            timeout=settings.timeout_seconds,
            stream=True,
        )
        # The whole answer within the timeout and the size cap (a dripped or endless answer
        # otherwise holds the sync, or its memory, for as long as the server likes).
        response._content = read_body(
            response,
            f"{what} at {settings.identity_url}{TOKEN_PATH}",
            seconds=settings.timeout_seconds,
            limit=settings.max_response_bytes,
            started=started,
        )
    except requests.RequestException as exc:
        raise NmbrsTransportError(
            f"{what} at {settings.identity_url}{TOKEN_PATH} failed: {type(exc).__name__}. "
            "Fix: check NMBRS_IDENTITY_URL and the network, then try again"
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 500:
        raise NmbrsTransportError(
            f"{what}: the identity service answered HTTP {response.status_code}. Fix: try again later"
        )
    if response.status_code != 200 or "access_token" not in body:
        error = str(body.get("error") or f"HTTP {response.status_code}")
        if form.get("grant_type") == "refresh_token" and error == "invalid_grant":
            raise ReconnectRequired()
        fixes = {
            "invalid_client": "check NMBRS_CLIENT_ID and NMBRS_CLIENT_SECRET",
            "invalid_scope": "remove the scopes your Nmbrs app does not allow from NMBRS_SCOPES",
            "invalid_grant": "the authorization code expired or was used; run `payroll connect` again",
        }
        raise OAuthError(
            f"{what} was refused by the identity service ({error}). "
            f"Fix: {fixes.get(error, 'check the NMBRS_CLIENT_* settings and run `payroll connect` again')}"
        )
    expires_in = int(body.get("expires_in") or 3600)
    return TokenResponse(
        access_token=body["access_token"],
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expires_in),
        refresh_token=body.get("refresh_token"),
        scope=str(body.get("scope") or ""),
    )


def exchange_code(
    settings: NmbrsSettings, code: str, redirect_uri: str, verifier: str, session=None
) -> TokenResponse:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "client_id": settings.client_id,
    }
    return _token_request(settings, form, "exchanging the authorization code", session)


def refresh(settings: NmbrsSettings, refresh_token: str, session=None) -> TokenResponse:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": settings.client_id}
    return _token_request(settings, form, "refreshing the Nmbrs access token", session)


@dataclass
class _Callback:
    code: str | None = None
    state: str | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


class RedirectListener:
    """Listens on 127.0.0.1 for the identity service's redirect (`GET <path>?code=...&state=...`)."""

    def __init__(self, redirect_uri: str):
        parts = urlsplit(redirect_uri)
        if parts.hostname not in {"127.0.0.1", "localhost"}:
            raise OAuthError(
                f"the redirect URI {redirect_uri} is not on this machine. "
                "Fix: set NMBRS_REDIRECT_URI to http://127.0.0.1:<port>/callback and register it with Nmbrs"
            )
        self.path = parts.path or "/callback"
        self.result = _Callback()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                url = urlsplit(self.path)
                if url.path != listener.path:
                    self.send_error(404)
                    return
                query = {key: values[0] for key, values in parse_qs(url.query).items()}
                result = listener.result
                if not result.done.is_set():
                    result.code = query.get("code")
                    result.state = query.get("state")
                    result.error = query.get("error") or (None if result.code else "no code in the redirect")
                    result.done.set()
                ok = result.error is None
                body = (
                    "<!doctype html><meta charset='utf-8'><title>payroll connect</title><p>"
                    + html.escape(
                        "Connected. You can close this window and return to the terminal."
                        if ok
                        else "The connection was not made. Return to the terminal for details."
                    )
                    + "</p>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):  # noqa: A002 - never log the code in the URL
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", parts.port or 0), Handler)
        port = self._server.server_address[1]
        self.redirect_uri = urlunsplit((parts.scheme, f"127.0.0.1:{port}", self.path, "", ""))
        self._thread = threading.Thread(target=self._server.serve_forever, name="oauth-redirect", daemon=True)

    def __enter__(self) -> RedirectListener:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait(self, timeout: float) -> _Callback:
        if not self.result.done.wait(timeout):
            raise OAuthError(
                f"no answer from the browser within {timeout:.0f} s. Fix: open the URL, sign in and allow "
                "access, then run `payroll connect` again"
            )
        return self.result


_CONSENT_ID = re.compile(r'name="consent_id"\s+value="([^"]+)"')


def approve_in_sandbox(url: str, timeout: float = 10) -> None:
    """Answer the sandbox's consent page with Allow, delivering the redirect to our listener."""
    if not is_local_url(url):
        raise OAuthError(
            "automatic approval is only for the local sandbox; open the URL in a browser to connect real Nmbrs"
        )
    with requests.Session() as session:
        page = session.get(url, timeout=timeout)
        if page.status_code != 200:
            raise OAuthError(f"the sandbox refused the authorization request (HTTP {page.status_code})")
        match = _CONSENT_ID.search(page.text)
        if not match:
            raise OAuthError("the sandbox consent page has no consent form")
        parts = urlsplit(url)
        answer = session.post(
            f"{parts.scheme}://{parts.netloc}{AUTHORIZE_PATH}/consent",
            data={"consent_id": html.unescape(match.group(1)), "decision": "allow"},
            allow_redirects=False,
            timeout=timeout,
        )
    location = answer.headers.get("Location")
    if answer.status_code not in (302, 303) or not location:
        raise OAuthError(f"the sandbox consent step did not redirect (HTTP {answer.status_code})")
    if not is_local_url(location):
        raise OAuthError("the sandbox redirected somewhere other than this machine; refusing to follow")
    # urllib, not requests: urllib3 would log the URL (with the one-time code) at DEBUG.
    with urllib.request.urlopen(location, timeout=timeout) as response:  # noqa: S310 - local URL checked above
        response.read()


def connect(
    settings: NmbrsSettings,
    store,
    *,
    show_url: Callable[[str], None] = print,
    auto_approve: bool = False,
    timeout: float = 300,
) -> TokenResponse:
    """Run the authorization-code flow with PKCE and store the refresh token. Returns the tokens."""
    if auto_approve and not is_local_url(settings.identity_url):
        raise OAuthError(
            "--auto-approve-sandbox only works with the local sandbox (NMBRS_IDENTITY_URL on 127.0.0.1); "
            "open the printed URL in a browser instead"
        )
    pkce = new_pkce()
    state = secrets.token_urlsafe(24)
    with RedirectListener(settings.redirect_uri) as listener:
        url = authorize_url(settings, listener.redirect_uri, state, pkce.challenge)
        show_url(url)
        if auto_approve:
            approve_in_sandbox(url, timeout=settings.timeout_seconds)
        result = listener.wait(timeout)
    if result.error:
        raise OAuthError(
            f"the identity service did not grant access ({result.error}). Fix: allow access on the consent page"
        )
    if not secrets.compare_digest(result.state or "", state):
        raise OAuthError("the redirect's state does not match (possible CSRF); run `payroll connect` again")
    tokens = exchange_code(settings, result.code or "", listener.redirect_uri, pkce.verifier)
    if not tokens.refresh_token:
        raise OAuthError(
            "the identity service returned no refresh token. Fix: include offline_access in NMBRS_SCOPES"
        )
    store.save_tokens(tokens)
    return tokens
