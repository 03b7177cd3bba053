"""The demo reuses only the sandbox its own state folder started; any other process on the port (the
demo of another clone, a sandbox of another state folder, something else) makes it take a free port.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pipelines.app import demo
from pipelines.lib import sandbox_record
from pipelines.lib.nmbrs.config import NmbrsSettings
from pipelines.lib.sandbox_record import SandboxRecord
from pipelines.lib.settings import temporary_env
from tests.support.ports import free_port, port_is_open


@pytest.fixture
def state_folder(tmp_path) -> Iterator[Path]:
    """A state folder of its own, with no Nmbrs settings: demo mode."""
    home = tmp_path / "state"
    unset = {key: None for key in os.environ if key.startswith("NMBRS_")}
    with temporary_env({**unset, "PAYROLL_HOME": str(home)}):
        yield home


def test_a_sandbox_this_state_folder_did_not_start_is_never_reused(sandbox, state_folder):
    """The other clone's sandbox serves on the port: this demo takes a free port and never calls it."""
    lines: list[str] = []
    calls_before = sandbox.state.counters.total()
    with temporary_env({"PAYROLL_SANDBOX_PORT": str(sandbox.port)}):
        with demo.demo_sandbox(echo=lines.append) as handle:
            assert handle.started_here and handle.url != sandbox.url
            own_port = int(handle.url.rsplit(":", 1)[1])
            assert os.environ["PAYROLL_SANDBOX_PORT"] == str(own_port)
            assert NmbrsSettings.from_env().rest_url == handle.url  # demo mode follows the port in use
            record = sandbox_record.read()
            assert record is not None and (record.url, record.pid) == (handle.url, os.getpid())
            assert (
                record.instance == requests.get(f"{handle.url}/_admin/instance", timeout=5).json()["instance"]
            )
            assert record.instance != sandbox.state.instance_id
            assert (sandbox_record.record_path().stat().st_mode & 0o777) == 0o600
        assert os.environ["PAYROLL_SANDBOX_PORT"] == str(sandbox.port)
    assert f"sandbox: port {sandbox.port} is in use by another process" in lines[0]
    assert f"takes the free port {own_port}" in lines[0]
    assert lines[1] == f"sandbox: started the Nmbrs sandbox (scenario demo, seed 42) at {handle.url}"
    assert sandbox.state.counters.total() == calls_before, "the demo called the other clone's sandbox"
    assert sandbox_record.read() is None and not port_is_open(own_port)


def test_the_sandbox_this_state_folder_started_is_reused_while_it_serves(state_folder):
    port = free_port()
    lines: list[str] = []
    with temporary_env({"PAYROLL_SANDBOX_PORT": str(port)}):
        with demo.demo_sandbox(echo=lines.append) as first:
            assert first.started_here and first.url == f"http://127.0.0.1:{port}"
            with demo.demo_sandbox(echo=lines.append) as second:
                assert not second.started_here and second.url == first.url
            # The reusing command leaves the record of the sandbox it did not start alone.
            assert sandbox_record.live() == sandbox_record.read() is not None
        assert sandbox_record.read() is None and not port_is_open(port)
    assert lines[-1] == (
        f"sandbox: reusing the Nmbrs sandbox this state folder started at {first.url} (process {os.getpid()})"
    )


def test_a_record_that_does_not_check_out_is_not_trusted(sandbox, state_folder):
    """A record whose process is gone, or whose URL now answers with another sandbox's id, is stale."""
    dead = SandboxRecord(sandbox.url, sandbox.port, pid=2**22 + 1, instance=sandbox.state.instance_id)
    other = SandboxRecord(sandbox.url, sandbox.port, pid=os.getpid(), instance="a sandbox that is gone")
    for record in (dead, other):
        sandbox_record.write(record)
        assert sandbox_record.live() is None
        with temporary_env({"PAYROLL_SANDBOX_PORT": str(free_port())}):
            with demo.demo_sandbox(echo=lambda _line: None) as handle:
                assert handle.started_here and handle.url != sandbox.url
                assert sandbox_record.read().instance != record.instance
        assert sandbox_record.read() is None


def test_a_port_held_by_something_else_does_not_stop_the_demo(state_folder):
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        with temporary_env({"PAYROLL_SANDBOX_PORT": str(port)}):
            with demo.demo_sandbox(echo=lambda _line: None) as handle:
                assert handle.started_here and handle.url != f"http://127.0.0.1:{port}"
                assert requests.get(f"{handle.url}/.well-known/openid-configuration", timeout=5).ok
