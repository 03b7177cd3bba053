"""One Nmbrs API step: error translation for Dagster's retry policy, and the metadata every
materialization carries (rows, source mode, calls made per API, drift)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.errors import DagsterExecutionInterruptedError

from pipelines.defs.nmbrs.source import NmbrsSession
from pipelines.lib.nmbrs.errors import NmbrsError, ReportTaskError
from pipelines.lib.settings import ConfigurationError
from pipelines.lib.warehouse import DuplicateKeyError


@dataclass
class Step:
    what: str
    session: NmbrsSession
    calls_before: dict[str, int] = field(default_factory=dict)

    def calls(self) -> dict[str, int]:
        now = self.session.calls()
        return {api: now.get(api, 0) - self.calls_before.get(api, 0) for api in ("soap", "rest")}


@contextmanager
def api_step(context: dg.AssetExecutionContext, what: str, nmbrs) -> Iterator[Step]:
    """Run a step against Nmbrs. Errors a retry cannot fix (settings, authentication, permissions,
    bad report content, a load that repeats a table's key) fail at once without retries; transient ones go to the RetryPolicy.
    A SIGINT or SIGTERM (Dagster raises it inside the step) fails the step without a retry: Dagster
    would otherwise retry an interrupted step under its RetryPolicy, so that Ctrl-C or a stop of
    the service did not stop the load. The open transaction has rolled back by then."""
    try:
        session = nmbrs.session()
        step = Step(what, session, session.calls())
        yield step
    except (ConfigurationError, DuplicateKeyError) as exc:  # the same answer would repeat the same key
        raise dg.Failure(description=f"{what}: {exc}", allow_retries=False) from exc
    except NmbrsError as exc:
        if exc.retryable or isinstance(exc, ReportTaskError):  # a new task usually succeeds
            context.log.warning(f"{what}: {exc} (will be retried)")
            raise
        raise dg.Failure(description=f"{what}: {exc}", allow_retries=False) from exc
    except (DagsterExecutionInterruptedError, KeyboardInterrupt) as exc:
        raise dg.Failure(
            description=f"{what}: stopped by a signal (Ctrl-C, SIGTERM or a terminated run); rolled back, "
            "the previous rows are kept",
            allow_retries=False,
        ) from exc


def step_metadata(step: Step, **values: object) -> dict[str, object]:
    calls = step.calls()
    metadata: dict[str, object] = {
        "source_mode": step.session.source_mode,
        "calls_soap": calls["soap"],
        "calls_rest": calls["rest"],
    }
    for key, value in values.items():
        metadata[key] = dg.MetadataValue.json(value) if isinstance(value, dict) else value
    return metadata
