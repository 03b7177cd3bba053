"""The REST connection's tokens, kept in payroll_private.oauth_tokens (one row per connection).

`TokenStore(database_url, settings)`:
- `save_tokens(tokens)` / `save_refresh_token(refresh_token)`: after `payroll connect`.
- `access_token(rejected=None)`: a valid access token, refreshing when it expired or when the API
  rejected `rejected`. Refreshing is serialised across processes by `SELECT ... FOR UPDATE` on the
  connection's row: a second refresher waits, then finds the new token and does not refresh again.
  The rotated refresh token is committed BEFORE the new access token is handed out; if storing it
  fails, the transaction rolls back, the previous row stays and the error says so.
- A refresh token the identity service rejects raises ReconnectRequired.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import psycopg2

from pipelines.lib import warehouse
from pipelines.lib.nmbrs import oauth
from pipelines.lib.nmbrs.config import NmbrsSettings
from pipelines.lib.nmbrs.errors import OAuthError, ReconnectRequired

EXPIRY_MARGIN = dt.timedelta(seconds=60)


class TokenStore:
    def __init__(
        self,
        database_url: str,
        settings: NmbrsSettings,
        *,
        refresher: Callable[[NmbrsSettings, str], oauth.TokenResponse] = oauth.refresh,
    ):
        self.database_url = database_url
        self.settings = settings
        self.connection = settings.connection_name
        self._refresher = refresher
        self._cached: tuple[str, dt.datetime] | None = None
        self.refreshes = 0
        self._ensure_table()

    def __repr__(self) -> str:
        return f"TokenStore(connection={self.connection!r})"

    def _connect(self):
        return warehouse.connect(self.database_url, application_name="payroll-token-store")

    def _ensure_table(self) -> None:
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("create schema if not exists payroll_private")
                cur.execute(warehouse.OAUTH_TOKENS_DDL)
            conn.commit()
        finally:
            conn.close()

    def save_refresh_token(self, refresh_token: str) -> None:
        """Store a refresh token (e.g. from `payroll connect`), dropping any stored access token."""
        self._save(refresh_token, None, None)

    def save_tokens(self, tokens: oauth.TokenResponse) -> None:
        if not tokens.refresh_token:
            raise OAuthError("no refresh token to store; include offline_access in the scopes")
        self._save(tokens.refresh_token, tokens.access_token, tokens.expires_at)

    def _save(self, refresh_token: str, access_token: str | None, expires_at: dt.datetime | None) -> None:
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "insert into payroll_private.oauth_tokens as t (connection, refresh_token, access_token, "
                    "access_token_expires_at, updated_at, generation) values (%s, %s, %s, %s, now(), 1) "
                    "on conflict (connection) do update set refresh_token = excluded.refresh_token, "
                    "access_token = excluded.access_token, access_token_expires_at = excluded.access_token_expires_at, "
                    "updated_at = now(), generation = t.generation + 1",
                    (self.connection, refresh_token, access_token, expires_at),
                )
            conn.commit()
        finally:
            conn.close()
        self._cached = (access_token, expires_at) if access_token and expires_at else None

    def is_connected(self) -> bool:
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "select refresh_token is not null from payroll_private.oauth_tokens where connection = %s",
                    (self.connection,),
                )
                row = cur.fetchone()
        finally:
            conn.close()
        return bool(row and row[0])

    def access_token(self, rejected: str | None = None) -> str:
        """A valid access token. `rejected`: the token the API just refused (forces a refresh)."""
        now = dt.datetime.now(dt.UTC)
        if self._cached and self._cached[0] != rejected and self._cached[1] - EXPIRY_MARGIN > now:
            return self._cached[0]
        conn = self._connect()
        try:
            return self._refresh_locked(conn, rejected)
        finally:
            conn.close()

    def _refresh_locked(self, conn, rejected: str | None) -> str:
        with conn.cursor() as cur:
            cur.execute(
                "select refresh_token, access_token, access_token_expires_at from payroll_private.oauth_tokens "
                "where connection = %s for update",
                (self.connection,),
            )
            row = cur.fetchone()
            if row is None or not row[0]:
                conn.rollback()
                raise ReconnectRequired("no Nmbrs REST connection is stored yet")
            refresh_token, access_token, expires_at = row
            now = dt.datetime.now(dt.UTC)
            if access_token and access_token != rejected and expires_at and expires_at - EXPIRY_MARGIN > now:
                conn.rollback()  # another worker refreshed while we waited for the lock
                self._cached = (access_token, expires_at)
                return access_token
            try:
                tokens = self._refresher(self.settings, refresh_token)
            except BaseException:
                conn.rollback()
                raise
            try:
                cur.execute(
                    "update payroll_private.oauth_tokens set refresh_token = %s, access_token = %s, "
                    "access_token_expires_at = %s, updated_at = now(), generation = generation + 1 "
                    "where connection = %s",
                    (
                        tokens.refresh_token or refresh_token,
                        tokens.access_token,
                        tokens.expires_at,
                        self.connection,
                    ),
                )
                conn.commit()
            except psycopg2.Error as exc:
                warehouse.rollback_quietly(conn)
                raise OAuthError(
                    "refreshed the Nmbrs access token but could not store the new refresh token "
                    f"({warehouse.safe_db_error(exc)}); the previous token row is unchanged. Fix: check that "
                    "the warehouse accepts writes to payroll_private.oauth_tokens; if the next run says so, "
                    "run `payroll connect` again"
                ) from None
        self.refreshes += 1
        self._cached = (tokens.access_token, tokens.expires_at)
        return tokens.access_token
