"""Run `dagster dev` (webserver + daemon) on the project's instance and stop all of it cleanly.

`dagster dev` starts a webserver, a daemon and a code server as its own children. It is started in a
new process group, so that stopping it (Ctrl-C, SIGTERM, or an error in the caller) reaches every one
of those processes and none is left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence

import psutil

from pipelines.lib.settings import PROJECT_ROOT, dagster_home

WORKSPACE_YAML = PROJECT_ROOT / "workspace.yaml"
GRACE_SECONDS = 20


def dagster_dev_command(host: str, port: int, extra_args: Sequence[str] = ()) -> list[str]:
    """The `dagster dev` command line for this project's workspace.yaml."""
    return [
        sys.executable,
        # `dagster dev` warns on every start that it is superseded by `dg dev` (of the dagster-dg
        # package, not installed here); the warning is about the tool, not about this project.
        "-W",
        "ignore::FutureWarning",
        "-m",
        "dagster",
        "dev",
        "-w",
        str(WORKSPACE_YAML),
        "--host",
        host,
        "--port",
        str(port),
        *extra_args,
    ]


def start(command: Sequence[str]) -> subprocess.Popen:
    """Start a Dagster service in its own process group, with our environment, in the DAGSTER_HOME
    folder (the repository root unless DAGSTER_HOME is set): `dagster dev` started elsewhere warns
    that the dagster.yaml of its working folder (the repository's) is not the instance's."""
    home = dagster_home()
    cwd = home if home.is_dir() else PROJECT_ROOT
    return subprocess.Popen(list(command), cwd=cwd, env=os.environ.copy(), start_new_session=True)


def stop(process: subprocess.Popen, grace_seconds: float = GRACE_SECONDS) -> int | None:
    """Ask the process group to shut down (SIGINT, as Ctrl-C would), then kill whatever is left.

    Waits for the leader and every descendant, so that no webserver, daemon or code server survives.
    Returns the leader's exit code (None if it had to be killed).
    """
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    _signal_group(process.pid, signal.SIGINT)
    try:
        code = process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=grace_seconds)
        code = None
    _, alive = psutil.wait_procs(descendants, timeout=grace_seconds)
    for proc in alive:
        proc.kill()
    psutil.wait_procs(alive, timeout=5)
    return code


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def run_foreground(command: Sequence[str]) -> int:
    """Run a Dagster service until it exits or the user presses Ctrl-C (or sends SIGTERM).

    Either way every process of the group is stopped before this returns the exit code.
    """
    process = start(command)
    # Installed explicitly: a process started in the background inherits an ignored SIGINT.
    previous = {sig: signal.signal(sig, _raise_keyboard_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return process.wait()
    except KeyboardInterrupt:
        code = stop(process)
        return 0 if code in (0, -signal.SIGINT, None) else code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if process.poll() is None:
            stop(process)


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
