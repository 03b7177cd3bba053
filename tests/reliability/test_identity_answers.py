"""Issue 16, items 3 and 5 for the identity service: the OAuth token answers are bounded like every
other Nmbrs answer (pipelines/lib/nmbrs/bounded.py).

Against the sandbox's identity service (its own sandbox, a fresh warehouse for the token store), with
the fault kinds `drip` (20 bytes a second) and `pad` (the token answer followed by megabytes of
spaces, still valid JSON; with and without Content-Length): a refresh ends within
NMBRS_TIMEOUT_SECONDS, an answer larger than NMBRS_MAX_RESPONSE_MB is refused after reading at most
that much and is not asked for again, the error names the identity service and the setting, never
a token, and the token store keeps the refresh token it had.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from pipelines.lib.nmbrs import oauth
from pipelines.lib.nmbrs.bounded import RequestTimedOut, ResponseTooLarge
from pipelines.lib.nmbrs.errors import NmbrsError
from pipelines.lib.nmbrs.rest import NmbrsRestClient
from pipelines.lib.nmbrs.tokens import TokenStore
from tests.support.nmbrs import settings_for
from tests.support.pipeline import record_figure

pytestmark = pytest.mark.reliability

TOKEN = "identity:token"


@pytest.fixture
def connected(sb, warehouse_url):
    """A token store that went through `payroll connect`'s flow (auto-approved), with a 3 s timeout
    and a 1 MB cap."""
    settings = dataclasses.replace(settings_for(sb), timeout_seconds=3, max_response_mb=1)
    store = TokenStore(warehouse_url, settings)
    tokens = oauth.connect(settings, store, show_url=lambda url: None, auto_approve=True, timeout=10)
    return settings, store, tokens


def _stored_refresh_token(store: TokenStore) -> str:
    conn = store._connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select refresh_token from payroll_private.oauth_tokens where connection = %s",
                (store.connection,),
            )
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_a_drip_fed_token_answer_is_cut_at_the_timeout(sb, connected):
    settings, store, tokens = connected
    rule = sb.state.faults.inject(TOKEN, "drip", bytes_per_second=20)
    started = time.monotonic()
    with pytest.raises(RequestTimedOut) as raised:
        oauth.refresh(settings, tokens.refresh_token)
    seconds = time.monotonic() - started
    text = str(raised.value)
    assert seconds < 3 + 1.5, f"the refresh took {seconds:.1f} s with a 3 s timeout"
    for _ in range(50):  # the sandbox notes the hang-up at its next write
        if rule.served:
            break
        time.sleep(0.1)
    assert rule.fired == 1 and len(rule.served) == 1 and rule.served[0] < 3 + 1.5, rule.served
    assert f"refreshing the Nmbrs access token at {settings.identity_url}/connect/token" in text
    assert "did not complete within 3 s (NMBRS_TIMEOUT_SECONDS" in text and "Fix:" in text
    assert raised.value.retryable  # a timeout is retried, like any other Nmbrs timeout
    assert tokens.refresh_token not in text and tokens.access_token not in text
    record_figure(
        "16_5_drip", identity_token=f"token answer cut after {seconds:.1f} s (timeout 3 s, 20 bytes/s)"
    )


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_token_answer_larger_than_the_cap_is_refused_once(sb, connected, warehouse_url, chunked):
    """With Content-Length the size is refused before reading; without (chunked), after reading 1 MB.
    Through the REST client: the rejected access token is refreshed, and the refusal is not retried."""
    settings, store, tokens = connected
    before = _stored_refresh_token(store)
    sb.state.identity.expire_access_tokens()  # Nmbrs answers 401 (40102): the client refreshes
    rule = sb.state.faults.inject(TOKEN, "pad", times=None, megabytes=3, chunked=chunked)
    started = time.monotonic()
    with NmbrsRestClient(settings, store) as client, pytest.raises(NmbrsError) as raised:
        client.companies()
    seconds = time.monotonic() - started
    error = raised.value
    assert isinstance(error, ResponseTooLarge), f"{type(error).__name__}: {error}"
    text = str(error)
    assert f"refreshing the Nmbrs access token at {settings.identity_url}/connect/token: the answer" in text
    assert "more than the limit of 1 MB (NMBRS_MAX_RESPONSE_MB)" in text and "not retried" in text
    assert rule.fired == 1, "a refused size is never asked for again"
    assert _stored_refresh_token(store) == before  # nothing stored from the refused answer
    assert tokens.refresh_token not in text
    record_figure(
        "16_3_listing_cap",
        **{
            f"identity token, {'chunked' if chunked else 'content-length'}": f"3 MB, cap 1 MB: refused once, {seconds:.1f} s"
        },
    )
