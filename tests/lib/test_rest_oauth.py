"""REST client, OAuth connect and the token store against the sandbox and real PostgreSQL."""

from __future__ import annotations

import logging
import threading
import time
from decimal import Decimal

import psycopg2
import pytest

from pipelines.lib.encryption import key_ring
from pipelines.lib.nmbrs import oauth
from pipelines.lib.nmbrs.errors import OAuthError, ReconnectRequired, RestError
from pipelines.lib.nmbrs.rest import NmbrsRestClient
from pipelines.lib.nmbrs.tokens import TokenStore
from tests.lib.conftest import settings_for


@pytest.fixture
def connected(sb, warehouse_url):
    """Settings + a token store that went through `payroll connect`'s flow (auto-approved)."""
    settings = settings_for(sb)
    store = TokenStore(warehouse_url, settings)
    shown: list[str] = []
    oauth.connect(settings, store, show_url=shown.append, auto_approve=True, timeout=10)
    assert shown and "code_challenge_method=S256" in shown[0] and "state=" in shown[0]
    return settings, store


def stored(warehouse_url) -> tuple[str, str, int]:
    """The stored refresh and access tokens (decrypted with the configured key) and the generation."""
    conn = psycopg2.connect(warehouse_url)
    with conn.cursor() as cur:
        cur.execute("select refresh_token, access_token, generation from payroll_private.oauth_tokens")
        refresh_token, access_token, generation = cur.fetchone()
    conn.close()
    ring = key_ring()
    return ring.decrypt(refresh_token), ring.decrypt(access_token), generation


def fast_rest(settings, store) -> NmbrsRestClient:
    return NmbrsRestClient(settings, store)


def company_uuid(sb, company_id: int) -> str:
    return sb.state.rest_ids.company(sb.state.world.company(company_id))


def test_connect_stores_a_refresh_token_and_rest_calls_match_the_sandbox(sb, connected, warehouse_url):
    settings, store = connected
    assert store.is_connected()
    refresh_token, access_token, generation = stored(warehouse_url)
    assert refresh_token and access_token and generation == 1
    year = min(sb.state.world.years(101))
    bakery = company_uuid(sb, 101)
    with fast_rest(settings, store) as client:
        companies = client.companies()
        assert [(c.company_id, c.number) for c in companies] == [
            (company_uuid(sb, c.id), str(c.number)) for c in sb.state.world.companies()
        ]
        runs = client.runs(bakery, year)
        assert len(runs) == sb.state.truth.rows("payroll_runs", 101, year)
        assert {r.payroll_run_id for r in runs} == {r.payroll_run_id for r in sb.state.world.runs(101, year)}
        employees = client.employees(bakery)
        assert len(employees) == sb.state.truth.rows("employees", 101)
        periods = sorted({r.period_start for r in runs if r.run_type == "normal"})
        components = client.entered_wage_components(bakery, year, periods)
    fixed = [c for c in components if c.kind == "fixed"]
    variable = [c for c in components if c.kind == "variable"]
    assert len(fixed) == sb.state.truth.rows("rest_fixed_wage_components", 101, year)
    assert len(variable) == sb.state.truth.rows("rest_variable_wage_components", 101, year)
    assert sum(c.value for c in fixed) == sb.state.truth.total("rest_fixed_wage_components", 101, year)
    assert all(isinstance(c.value, Decimal) for c in components)


def test_429_retry_after_is_honoured(sb, connected):
    settings, store = connected
    sb.state.faults.inject("rest:companies", "429", times=1, retry_after=1)
    with fast_rest(settings, store) as client:
        started = time.monotonic()
        assert len(client.companies()) == 3
        assert time.monotonic() - started >= 1.0
        assert client.retries == 1


@pytest.mark.parametrize("kind", ["500", "502", "503", "reset", "truncate"])
def test_server_errors_and_broken_connections_are_retried(sb, connected, kind):
    settings, store = connected
    sb.state.faults.inject("rest:companies", kind, times=2)
    with NmbrsRestClient(settings, store) as client:
        assert len(client.companies()) == 3
        assert client.retries == 2


def test_persistent_5xx_gives_a_clear_error(sb, connected):
    settings, store = connected
    sb.state.faults.inject("rest:companies", "500", times=None)
    with NmbrsRestClient(settings, store, max_attempts=2) as client:
        with pytest.raises(
            RestError, match=r"GET /api/companies failed \(HTTP 500, code 50001\).*retried automatically"
        ):
            client.companies()


def test_401_mid_pagination_refreshes_the_token_once(sb, connected, warehouse_url):
    settings, store = connected
    sb.state.faults.inject("rest:employees", "401", times=1, after=1)
    before = stored(warehouse_url)
    with fast_rest(settings, store) as client:
        employees = list(client.paginate(f"/api/companies/{company_uuid(sb, 101)}/employees", page_size=3))
    assert len(employees) == sb.state.truth.rows("employees", 101)
    assert store.refreshes == 1
    after = stored(warehouse_url)
    assert after[0] != before[0] and after[2] == before[2] + 1  # the rotated refresh token was stored


def test_wrong_subscription_key_is_named_without_a_refresh(sb, connected, warehouse_url):
    settings, _ = connected
    wrong = settings_for(sb, NMBRS_SUBSCRIPTION_KEY="not-the-key")
    store = TokenStore(warehouse_url, wrong)
    with NmbrsRestClient(wrong, store) as client:
        with pytest.raises(RestError, match="NMBRS_SUBSCRIPTION_KEY") as err:
            client.companies()
    assert store.refreshes == 0 and "not-the-key" not in str(err.value)


def test_two_concurrent_refreshers_never_lose_the_rotating_token(sb, connected, warehouse_url):
    settings, _ = connected
    rejected = stored(warehouse_url)[1]

    def slow_refresh(s, token):
        time.sleep(0.5)  # widen the race window
        return oauth.refresh(s, token)

    stores = [TokenStore(warehouse_url, settings, refresher=slow_refresh) for _ in range(2)]
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(store):
        barrier.wait()
        try:
            results.append(store.access_token(rejected=rejected))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1 and results[0] != rejected
    assert sum(s.refreshes for s in stores) == 1
    # the stored refresh token is the newest one: a further rotation still works
    again = TokenStore(warehouse_url, settings)
    assert again.access_token(rejected=results[0]) not in (rejected, results[0])


def test_a_revoked_refresh_token_asks_to_connect_again(sb, connected, warehouse_url):
    settings, store = connected
    refresh_token, access_token, _ = stored(warehouse_url)
    sb.state.identity.revoke(refresh_token)
    with pytest.raises(ReconnectRequired, match=r"run `payroll connect` again") as err:
        store.access_token(rejected=access_token)
    assert refresh_token not in str(err.value)


def test_no_stored_connection_asks_to_connect(sb, warehouse_url):
    store = TokenStore(warehouse_url, settings_for(sb))
    with pytest.raises(ReconnectRequired, match="no Nmbrs REST connection is stored yet"):
        store.access_token()


def test_a_failing_store_keeps_the_old_token(sb, connected, warehouse_url):
    settings, store = connected
    before = stored(warehouse_url)
    conn = psycopg2.connect(warehouse_url)
    with conn, conn.cursor() as cur:
        cur.execute(
            "create function payroll_private.refuse() returns trigger language plpgsql as "
            "$$ begin raise exception 'disk full'; end $$;"
            "create trigger refuse before update on payroll_private.oauth_tokens "
            "for each row execute function payroll_private.refuse()"
        )
    conn.close()
    with pytest.raises(
        OAuthError, match="could not store the new refresh token.*previous token row is unchanged"
    ):
        store.access_token(rejected=before[1])
    assert stored(warehouse_url) == before


def test_auto_approve_is_refused_for_a_remote_identity_service(sb, warehouse_url):
    settings = settings_for(sb, NMBRS_IDENTITY_URL="https://identityservice.nmbrs.com")
    store = TokenStore(warehouse_url, settings)
    with pytest.raises(OAuthError, match="only works with the local sandbox"):
        oauth.connect(settings, store, show_url=lambda url: None, auto_approve=True)


def test_debug_logs_never_show_tokens_or_secrets(sb, warehouse_url, caplog):
    caplog.set_level(logging.DEBUG)
    settings = settings_for(sb)
    store = TokenStore(warehouse_url, settings)
    oauth.connect(settings, store, show_url=lambda url: None, auto_approve=True, timeout=10)
    sb.state.faults.inject("rest:employees", "401", times=1)
    with NmbrsRestClient(settings, store) as client:
        client.companies()
        client.employees(company_uuid(sb, 101))
    refresh_token, access_token, _ = stored(warehouse_url)
    assert caplog.records, "DEBUG logging captured nothing"
    text = caplog.text + repr(settings) + repr(store)
    for secret in (refresh_token, access_token, settings.client_secret, settings.subscription_key):
        assert secret not in text
