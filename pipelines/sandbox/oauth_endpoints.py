"""HTTP side of the identity service: discovery, authorize + consent page, token, revocation."""

from __future__ import annotations

import base64
import html
from urllib.parse import unquote_plus, urlencode

from pipelines.sandbox import contract
from pipelines.sandbox.identity import IdentityStore, OAuthError
from pipelines.sandbox.state import SandboxState
from pipelines.sandbox.web import Request, Response, json_response

CONSENT_PATH = "/connect/authorize/consent"


def base_url(request: Request) -> str:
    return f"http://{request.header('host', '127.0.0.1')}"


def route(path: str) -> str | None:
    return {
        "/.well-known/openid-configuration": "discovery",
        "/connect/authorize": "authorize",
        CONSENT_PATH: "consent",
        "/connect/token": "token",
        "/connect/revocation": "revocation",
    }.get(path)


def handle(state: SandboxState, name: str, request: Request) -> Response:
    try:
        return HANDLERS[name](state, request)
    except OAuthError as exc:
        return _error(exc)


def _error(exc: OAuthError) -> Response:
    return json_response(
        exc.status, {"error": exc.error, "error_description": str(exc)}, {"Cache-Control": "no-store"}
    )


def discovery(state: SandboxState, request: Request) -> Response:
    base = base_url(request)
    return json_response(
        200,
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/connect/authorize",
            "token_endpoint": f"{base}/connect/token",
            "revocation_endpoint": f"{base}/connect/revocation",
            "scopes_supported": sorted(contract.SCOPES),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        },
    )


def authorize(state: SandboxState, request: Request) -> Response:
    if request.method != "GET":
        raise OAuthError("invalid_request", "use GET for /connect/authorize", status=405)
    consent_id, auth = state.identity.begin(request.query)
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in sorted(auth.scopes))
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Nmbrs sandbox: allow access?</title></head>
<body><h1>Allow {html.escape(auth.client_id)} to read your Nmbrs data?</h1>
<p>Signed in as {html.escape(contract.USERNAME)} (sandbox). Requested access:</p><ul>{scopes}</ul>
<form method="post" action="{CONSENT_PATH}">
<input type="hidden" name="consent_id" value="{html.escape(consent_id)}">
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form></body></html>"""
    return Response(200, page.encode("utf-8"), "text/html; charset=utf-8", {"Cache-Control": "no-store"})


def consent(state: SandboxState, request: Request) -> Response:
    if request.method != "POST":
        raise OAuthError("invalid_request", "the consent form is answered with POST", status=405)
    form = request.form()
    auth, code = state.identity.decide(form.get("consent_id", ""), form.get("decision") == "allow")
    params = {"code": code} if code else {"error": "access_denied"}
    if auth.state:
        params["state"] = auth.state
    return Response(
        302,
        b"",
        headers={"Location": f"{auth.redirect_uri}?{urlencode(params)}", "Cache-Control": "no-store"},
    )


def _client(request: Request, form: dict[str, str]) -> str:
    auth = request.header("authorization")
    if auth.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
        except ValueError:
            raise OAuthError("invalid_client", "malformed Basic authorization header", status=401) from None
        client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    IdentityStore.check_client(client_id, secret)
    return client_id


def token(state: SandboxState, request: Request) -> Response:
    if request.method != "POST":
        raise OAuthError("invalid_request", "use POST for /connect/token", status=405)
    form = request.form()
    client_id = _client(request, form)
    grant_type = form.get("grant_type", "")
    if grant_type == "authorization_code":
        issued = state.identity.exchange_code(
            client_id, form.get("code", ""), form.get("redirect_uri", ""), form.get("code_verifier", "")
        )
    elif grant_type == "refresh_token":
        issued = state.identity.refresh(client_id, form.get("refresh_token", ""), form.get("scope", ""))
    else:
        raise OAuthError(
            "unsupported_grant_type",
            f"grant_type {grant_type!r} is not supported; use authorization_code or refresh_token",
        )
    return json_response(200, issued, {"Cache-Control": "no-store", "Pragma": "no-cache"})


def revocation(state: SandboxState, request: Request) -> Response:
    if request.method != "POST":
        raise OAuthError("invalid_request", "use POST for /connect/revocation", status=405)
    form = request.form()
    _client(request, form)
    state.identity.revoke(form.get("token", ""))
    return Response(200, b"")


HANDLERS = {
    "discovery": discovery,
    "authorize": authorize,
    "consent": consent,
    "token": token,
    "revocation": revocation,
}
