"""The REST connection's tokens, kept in payroll_private.oauth_tokens (one row per connection).

`TokenStore(database_url, settings)`:
- `save_tokens(tokens)` / `save_refresh_token(refresh_token)`: after `payroll connect`.
- `access_token(rejected=None)`: a valid access token, refreshing when it expired or when the API
  rejected `rejected`. Refreshing is serialised across processes by `SELECT ... FOR UPDATE` on the
  connection's row: a second refresher waits, then finds the new token and does not refresh again.
  The rotated refresh token is committed BEFORE the new access token is handed out; if storing it
  fails, the transaction rolls back, the previous row stays and the error says so.
- A refresh token the identity service rejects raises ReconnectRequired.
- Both tokens are stored encrypted (pipelines/lib/encryption.py: Fernet, the key outside the
  database). Rows stored in plain text by an earlier version are encrypted when a store is first
  opened. Tokens that no longer open (the key file was lost, PAYROLL_SECRET_KEY changed) raise
  ReconnectRequired: `payroll connect` stores new ones under the current key.
- `reencrypt_all(database_url, ring)`: every row under the ring's first key, in one transaction
  (`payroll secrets rotate-key`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import psycopg2

from pipelines.lib import encryption, warehouse
from pipelines.lib.encryption import KeyRing, SecretKeyError
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
        key_ring: Callable[[], KeyRing] = encryption.key_ring,
    ):
        self.database_url = database_url
        self.settings = settings
        self.connection = settings.connection_name
        self._refresher = refresher
        self._key_ring = key_ring
        self._cached: tuple[str, dt.datetime] | None = None
        self.refreshes = 0
        self._ensure_table()

    def __repr__(self) -> str:
        return f"TokenStore(connection={self.connection!r})"

    def _connect(self):
        return warehouse.connect(self.database_url, application_name="payroll-token-store")

    def _ensure_table(self) -> None:
        """The token table, with any row an earlier version stored in plain text encrypted."""
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("create schema if not exists payroll_private")
                cur.execute(warehouse.OAUTH_TOKENS_DDL)
                conn.commit()
                cur.execute(
                    "select connection, refresh_token, access_token from payroll_private.oauth_tokens "
                    "where not (coalesce(refresh_token, %(p)s) like %(like)s and coalesce(access_token, %(p)s) "
                    "like %(like)s) for update",
                    {"p": encryption.PREFIX, "like": encryption.PREFIX + "%"},
                )
                plain = cur.fetchall()
                if plain:
                    ring = self._key_ring()
                    for connection, refresh_token, access_token in plain:
                        cur.execute(
                            "update payroll_private.oauth_tokens set refresh_token = %s, access_token = %s "
                            "where connection = %s",
                            (_sealed(ring, refresh_token), _sealed(ring, access_token), connection),
                        )
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
        ring = self._key_ring()
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "insert into payroll_private.oauth_tokens as t (connection, refresh_token, access_token, "
                    "access_token_expires_at, updated_at, generation) values (%s, %s, %s, %s, now(), 1) "
                    "on conflict (connection) do update set refresh_token = excluded.refresh_token, "
                    "access_token = excluded.access_token, access_token_expires_at = excluded.access_token_expires_at, "
                    "updated_at = now(), generation = t.generation + 1",
                    (self.connection, ring.encrypt(refresh_token), _sealed(ring, access_token), expires_at),
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
            ring = self._key_ring()
            try:
                refresh_token, access_token = ring.decrypt(row[0]), _opened(ring, row[1])
            except SecretKeyError as exc:
                conn.rollback()
                raise ReconnectRequired(f"the stored Nmbrs tokens cannot be used: {exc}") from None
            expires_at = row[2]
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
                        ring.encrypt(tokens.refresh_token or refresh_token),
                        ring.encrypt(tokens.access_token),
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


def _sealed(ring: KeyRing, value: str | None) -> str | None:
    """`value` encrypted (None stays None; an already encrypted value is kept)."""
    return value if value is None or encryption.is_encrypted(value) else ring.encrypt(value)


def _opened(ring: KeyRing, value: str | None) -> str | None:
    return None if value is None else ring.decrypt(value)


def reencrypt_all(database_url: str, ring: KeyRing) -> int:
    """Re-encrypt every stored token with the ring's first key, in one transaction; the rows done.

    A row that does not open with the ring fails the whole rotation (nothing is changed), naming the
    connection: its tokens are lost anyway, and `payroll connect` replaces them.
    """
    conn = warehouse.connect(database_url, application_name="payroll-token-store")
    try:
        with conn.cursor() as cur:
            cur.execute("create schema if not exists payroll_private")
            cur.execute(warehouse.OAUTH_TOKENS_DDL)
            cur.execute(
                "select connection, refresh_token, access_token from payroll_private.oauth_tokens for update"
            )
            rows = cur.fetchall()
            for connection, refresh_token, access_token in rows:
                try:
                    opened = (_opened(ring, refresh_token), _opened(ring, access_token))
                except SecretKeyError as exc:
                    raise ReconnectRequired(
                        f"the stored tokens of connection {connection!r} cannot be re-encrypted: {exc}. Nothing "
                        "was changed"
                    ) from None
                cur.execute(
                    "update payroll_private.oauth_tokens set refresh_token = %s, access_token = %s "
                    "where connection = %s",
                    (*(None if value is None else ring.encrypt(value) for value in opened), connection),
                )
        conn.commit()
        return len(rows)
    finally:
        warehouse.rollback_quietly(conn)
        conn.close()
