"""Fixtures for the sandbox tests: private sandbox instances (the raw SOAP helpers are in tests/support/soap.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.sandboxes import StartSandbox, sandboxes


@pytest.fixture
def start_sandbox() -> Iterator[StartSandbox]:
    """Start private sandboxes (any scenario/knobs) that are stopped after the test."""
    with sandboxes() as start:
        yield start
