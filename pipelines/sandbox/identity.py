"""The sandbox's OAuth2 identity store: authorization requests, codes (PKCE S256), rotating refresh tokens.

Tokens are opaque random strings held in memory. A refresh token works once: using it returns a
new access token and a new refresh token, and the old one is rejected from then on.

Like Nmbrs's identity server, which keeps a user's consent across its restarts, a sandbox can keep
its live refresh grants in a file (`keep_grants_in`; `payroll demo` uses its state folder): a
sandbox started again on the same state folder honours the refresh token the previous one issued,
so the client refreshes instead of asking for consent again. The file holds SHA-256 digests of the
refresh tokens, never the tokens, and is readable by its owner only.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.sandbox import contract

CODE_SECONDS = 300


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error = error
        self.status = status


@dataclass(frozen=True)
class AuthRequest:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    state: str
    code_challenge: str


@dataclass
class Grant:
    client_id: str
    scopes: frozenset[str]
    expires_at: float
    redirect_uri: str = ""
    code_challenge: str = ""
    used: bool = False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest())
        .rstrip(b"=")
        .decode("ascii")
    )


class IdentityStore:
    def __init__(self, access_token_seconds: int):
        self.access_token_seconds = access_token_seconds
        self._lock = threading.Lock()
        self._pending: dict[str, AuthRequest] = {}
        self._codes: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}  # by the SHA-256 digest of the refresh token
        self._access: dict[str, Grant] = {}
        self._grants_file: Path | None = None
        self._issued: list[str] = []  # every token this process issued (memory only, never saved)

    def keep_grants_in(self, path: Path) -> int:
        """Honour the live refresh grants kept in `path` and keep them there from now on; how many
        were loaded. A missing or unreadable file holds none."""
        with self._lock:
            self._grants_file = path
            try:
                kept = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                kept = {}
            for digest, grant in kept.items() if isinstance(kept, dict) else ():
                self._refresh.setdefault(
                    digest, Grant(str(grant["client_id"]), frozenset(grant["scopes"]), float("inf"))
                )
            self._save()
            return len(kept) if isinstance(kept, dict) else 0

    def _save(self) -> None:
        """Write the live refresh grants (under the lock), atomically, mode 0600."""
        if self._grants_file is None:
            return
        live = {
            digest: {"client_id": grant.client_id, "scopes": sorted(grant.scopes)}
            for digest, grant in self._refresh.items()
            if not grant.used
        }
        self._grants_file.parent.mkdir(parents=True, exist_ok=True)
        scratch = self._grants_file.with_name(f".{self._grants_file.name}.{os.getpid()}")
        descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(live, out)
        os.replace(scratch, self._grants_file)

    # authorization -----------------------------------------------------------------------
    def begin(self, params: dict[str, str]) -> tuple[str, AuthRequest]:
        """Validate an authorize request; returns a consent id for the consent form."""
        client_id = params.get("client_id", "")
        if client_id != contract.CLIENT_ID:
            raise OAuthError("invalid_client", f"unknown client_id {client_id!r}")
        redirect_uri = params.get("redirect_uri", "")
        if not any(fnmatch.fnmatchcase(redirect_uri, p) for p in contract.REDIRECT_URI_PATTERNS):
            raise OAuthError(
                "invalid_request",
                "redirect_uri is not registered for this client "
                f"(allowed: {', '.join(contract.REDIRECT_URI_PATTERNS)})",
            )
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "response_type must be code")
        scopes = self._scopes(params.get("scope", ""))
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            raise OAuthError(
                "invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256"
            )
        request = AuthRequest(
            client_id, redirect_uri, scopes, params.get("state", ""), params["code_challenge"]
        )
        consent_id = secrets.token_urlsafe(24)
        with self._lock:
            self._pending[consent_id] = request
        return consent_id, request

    @staticmethod
    def _scopes(raw: str) -> frozenset[str]:
        scopes = frozenset(raw.split())
        unknown = sorted(scopes - contract.SCOPES)
        if not scopes or unknown:
            raise OAuthError("invalid_scope", f"unknown scope(s): {', '.join(unknown) or '(none requested)'}")
        return scopes

    def decide(self, consent_id: str, approve: bool) -> tuple[AuthRequest, str | None]:
        """Finish the consent step; returns the request and, when approved, a one-time code."""
        with self._lock:
            request = self._pending.pop(consent_id, None)
            if request is None:
                raise OAuthError("invalid_request", "this consent request is unknown or already answered")
            if not approve:
                return request, None
            code = secrets.token_urlsafe(32)
            self._codes[code] = Grant(
                request.client_id,
                request.scopes,
                time.time() + CODE_SECONDS,
                request.redirect_uri,
                request.code_challenge,
            )
            return request, code

    # tokens ------------------------------------------------------------------------------
    @staticmethod
    def check_client(client_id: str, client_secret: str) -> None:
        if client_id != contract.CLIENT_ID or not hmac.compare_digest(client_secret, contract.CLIENT_SECRET):
            raise OAuthError("invalid_client", "client authentication failed", status=401)

    def exchange_code(self, client_id: str, code: str, redirect_uri: str, verifier: str) -> dict[str, object]:
        with self._lock:
            grant = self._codes.get(code)
            if grant is None or grant.used or grant.expires_at < time.time() or grant.client_id != client_id:
                raise OAuthError(
                    "invalid_grant", "the authorization code is invalid, expired or already used"
                )
            grant.used = True
            if grant.redirect_uri != redirect_uri:
                raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
            if not verifier or not hmac.compare_digest(s256(verifier), grant.code_challenge):
                raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
            return self._issue(client_id, grant.scopes)

    def refresh(self, client_id: str, refresh_token: str, scope: str = "") -> dict[str, object]:
        with self._lock:
            grant = self._refresh.get(_digest(refresh_token))
            if grant is None or grant.used or grant.client_id != client_id:
                raise OAuthError("invalid_grant", "the refresh token is invalid, revoked or already used")
            scopes = self._scopes(scope) if scope else grant.scopes
            if not scopes <= grant.scopes:
                raise OAuthError("invalid_scope", "a refresh cannot add scopes to the original grant")
            grant.used = True
            return self._issue(client_id, scopes)

    def grant_offline_access(self, scopes: frozenset[str] | None = None) -> dict[str, object]:
        """Issue tokens as if a user had consented (for tests and scripted demos)."""
        with self._lock:
            return self._issue(contract.CLIENT_ID, (scopes or contract.SCOPES) | {"offline_access"})

    def _issue(self, client_id: str, scopes: frozenset[str]) -> dict[str, object]:
        access = secrets.token_urlsafe(32)
        self._access[access] = Grant(client_id, scopes, time.time() + self.access_token_seconds)
        token = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_token_seconds,
            "scope": " ".join(sorted(scopes)),
        }
        if "offline_access" in scopes:
            refresh = secrets.token_urlsafe(32)
            self._refresh[_digest(refresh)] = Grant(client_id, scopes, float("inf"))
            token["refresh_token"] = refresh
            self._issued.append(refresh)
        self._issued.append(access)
        self._save()
        return token

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token this sandbox process issued, revoked or not (for the leak and
        secrets-at-rest tests: the grants file keeps only digests)."""
        with self._lock:
            return list(self._issued)

    def revoke(self, token: str) -> None:
        with self._lock:
            self._access.pop(token, None)
            grant = self._refresh.get(_digest(token))
            if grant is not None:
                grant.used = True
                self._save()

    def expire_access_tokens(self) -> None:
        """Make every access token expire now (clients must refresh)."""
        with self._lock:
            for grant in self._access.values():
                grant.expires_at = 0.0

    def access(self, token: str) -> Grant | None:
        """The live grant behind an access token, or None when unknown or expired."""
        with self._lock:
            grant = self._access.get(token)
        if grant is None or grant.expires_at <= time.time():
            return None
        return grant
