"""Scenario 5 in a sync: a revoked refresh token stops the sync with "run `payroll connect` again".

Two workers refreshing at once with rotation is in test_sensor_race.py (one refresh for two
concurrent runs); the token store's row lock, a revoked token and a failing store keeping the old
token are proved against the sandbox in tests/lib/test_rest_oauth.py.
"""

from __future__ import annotations

import pytest

from tests.reliability.support import differing, record_figure

pytestmark = pytest.mark.reliability


def test_a_revoked_refresh_token_stops_the_sync_with_run_payroll_connect_again(reference):
    from pipelines.lib.encryption import key_ring
    from pipelines.lib.nmbrs.config import NmbrsSettings
    from pipelines.lib.nmbrs.tokens import TokenStore

    pipeline, identity = reference.pipeline, reference.sandbox.state.identity
    (stored,) = pipeline.query("select refresh_token from payroll_private.oauth_tokens")[0]
    with pipeline.active():  # the pipeline's key file
        refresh_token = key_ring().decrypt(stored)
    identity.revoke(refresh_token)
    identity.expire_access_tokens()
    try:
        result = pipeline.sync(include_dbt=False, companies=[])
        assert not result.success
        (step,) = result.failures
        assert "run `payroll connect` again" in step.error, step.error
        assert step.retries == 0, "a revoked token cannot be fixed by retrying"
        assert refresh_token not in step.error and refresh_token not in (step.error_detail or "")
        assert differing(pipeline.hashes(), reference.hashes) == []
    finally:  # connect again, as the user would
        with pipeline.active():
            TokenStore(pipeline.database_url, NmbrsSettings.from_env()).save_refresh_token(
                identity.grant_offline_access()["refresh_token"]
            )
    record_figure("5_revoked_refresh_token", failed_step=step.name, step_retries=step.retries)
