"""The security suite's pipeline: a demo sandbox with hostile names, synced once at PAYROLL_LOG_LEVEL=DEBUG.

`secured` holds everything the leak, access and injection tests read: the captured log text of the
whole sync (the product's own logging set up by PAYROLL_LOG_LEVEL=DEBUG, so every Python logger at
DEBUG, plus Dagster's console log, which `run_sync` then shows at DEBUG), the text of every Dagster
event record of its runs, the exception texts of a sync made to fail, the secrets in play (SOAP
token, client secret, subscription key, every access and refresh token the identity service
issued, the key that encrypts the stored tokens) and the sandbox employees' BSNs and birth dates.
"""

from __future__ import annotations

import pytest

from tests.support.pipeline import new_pipeline, step_errors
from tests.support.sandboxes import sandboxes
from tests.support.security import (
    Secured,
    capture_debug_logs,
    event_log_text,
    failing_sync,
    make_names_hostile,
)


@pytest.fixture(scope="session")
def secured(make_database, tmp_path_factory):
    with sandboxes() as start:
        sandbox = start()
        hostile_company, hostile_employee = make_names_hostile(sandbox)
        pipeline = new_pipeline(
            make_database, tmp_path_factory.mktemp("security-home"), sandbox, PAYROLL_LOG_LEVEL="DEBUG"
        )
        with capture_debug_logs(pipeline) as captured:
            result = pipeline.sync()
            assert result.success, step_errors(result)
            failed = failing_sync(pipeline)
        events, run_ids = event_log_text(pipeline, [*result.steps, *failed.steps])
        identity = sandbox.state.identity
        from pipelines.lib.nmbrs.config import SANDBOX_CREDENTIALS

        secrets = {
            f"{name}": value
            for name, value in SANDBOX_CREDENTIALS.items()
            if name in ("token", "client_secret", "subscription_key")
        }
        for number, token in enumerate(identity.issued_tokens()):
            secrets[f"oauth token #{number}"] = token
        with pipeline.active():
            from pipelines.lib.encryption import key_ring

            for number, key in enumerate(key_ring().keys):
                secrets[f"token encryption key #{number}"] = key.decode()
        employees = [
            e
            for company in sandbox.state.world.companies()
            for e in sandbox.state.world.employees(company.id)
        ]
        exceptions = "\n".join(f"{step.error}\n{step.error_detail}" for step in failed.failures)
        yield Secured(
            pipeline=pipeline,
            logs=captured.getvalue(),
            events=events,
            exceptions=exceptions,
            secrets=secrets,
            bsns={e.bsn for e in employees},
            birth_dates={e.birth_date.isoformat() for e in employees},
            hostile_company_id=hostile_company,
            hostile_employee=hostile_employee,
            run_ids=run_ids,
        )
