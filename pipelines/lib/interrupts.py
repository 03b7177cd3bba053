"""Stopping a long command on SIGINT (Ctrl-C) or SIGTERM: `stop_on_signals()` and `requested()`.

A command that runs several pieces of work in turn (`payroll sync`, `payroll demo`, `payroll
backfill --wait`) wraps them in `stop_on_signals()`. Inside it:
- the first SIGINT or SIGTERM is remembered, whoever handles it. Dagster replaces the SIGINT and
  SIGTERM handlers while it executes a run (it raises its own interrupt inside a step's code and
  forgets a signal that arrived between steps when the run ends), so the signal number is also
  written by the interpreter to a wake-up pipe (`signal.set_wakeup_fd`), which `requested()` reads;
- outside a Dagster run our own handler raises `Interrupted` at once, unless the code is between
  two pieces of work (`deferred()`), where the caller checks `requested()` before starting the next.
The command then exits with `exit_code()` (128 + the signal number: 130 for SIGINT, 143 for
SIGTERM), after saying what was left undone.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error of the work
    """A SIGINT or SIGTERM stopped the command; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal_name(signum)}")
        self.signum = signum


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def exit_code(signum: int) -> int:
    """The shell's code for a process ended by the signal: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signum


@dataclass
class _Stop:
    reader: socket.socket | None = None
    signum: int | None = None
    defer: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def poll(self) -> int | None:
        """The first signal received so far (read from the wake-up pipe as well), else None."""
        with self.lock:
            if self.reader is not None:
                with contextlib.suppress(BlockingIOError, OSError):
                    data = self.reader.recv(64)
                    for byte in data:
                        if byte in SIGNALS and self.signum is None:
                            self.signum = byte
            return self.signum


_current: _Stop | None = None


def requested() -> int | None:
    """The SIGINT or SIGTERM received inside `stop_on_signals()`, else None (also outside it)."""
    stop = _current
    return stop.poll() if stop is not None else None


def raise_if_requested() -> None:
    signum = requested()
    if signum is not None:
        raise Interrupted(signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Inside this block a signal is only remembered; the caller checks `requested()` itself."""
    stop = _current
    if stop is None:
        yield
        return
    stop.defer += 1
    try:
        yield
    finally:
        stop.defer -= 1


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Remember the first SIGINT or SIGTERM in this block (see the module docstring). Only the main
    thread may install signal handlers; elsewhere the block does nothing."""
    global _current
    if threading.current_thread() is not threading.main_thread() or _current is not None:
        yield
        return
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    stop = _Stop(reader=reader)

    def handler(signum: int, _frame) -> None:
        if stop.signum is None:
            stop.signum = signum
        if not stop.defer:
            raise Interrupted(stop.signum)

    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    for signum in SIGNALS:
        signal.signal(signum, handler)
    _current = stop
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        signal.set_wakeup_fd(previous_fd)
        _current = None
        stop.reader = None
        reader.close()
        writer.close()
