"""Bounded answers: every Nmbrs request ends within its deadline and reads at most a set size.

`requests`' timeout bounds each socket read, not the request: an answer dripped at 20 bytes a second
never trips it. `Deadline(response, seconds)` is a watchdog that shuts the response's socket down
when the whole request has taken `seconds` (counted from when it was sent), so a blocked read
returns at once; `expired` then tells the caller why the body broke off.

`read_body(response, what, deadline, limit)` reads a non-report answer in 64 KB pieces, refusing it
(`ResponseTooLarge`, never retried) as soon as it is larger than `limit` bytes (Content-Length
first), and raising `RequestTimedOut` (retried like any timeout) when the deadline passed.
Streamed reports are not read here: pipelines/lib/nmbrs/soap.py reads them in pieces under a
deadline of their own (NMBRS_REPORT_DEADLINE_SECONDS).
"""

from __future__ import annotations

import socket
import threading
import time

import requests

from pipelines.lib.nmbrs.errors import NmbrsError, NmbrsTransportError

CHUNK = 1 << 16
MB = 1 << 20


class ResponseTooLarge(NmbrsError):
    """An answer larger than NMBRS_MAX_RESPONSE_MB: refused, and not retried (it would come back)."""

    retryable = False

    def __init__(self, what: str, limit: int, seen: int | None = None):
        self.what = what
        self.limit = limit
        size = f"declares {seen:,} bytes" if seen is not None else f"exceeded {limit:,} bytes"
        super().__init__(
            f"{what}: the answer {size}, more than the limit of {limit // MB} MB "
            "(NMBRS_MAX_RESPONSE_MB); refused after reading at most that much, and not retried. Fix: check "
            "that the Nmbrs URL points at Nmbrs; if the environment really is that large, raise "
            "NMBRS_MAX_RESPONSE_MB"
        )


class RequestTimedOut(NmbrsTransportError):
    """The whole request took longer than its deadline (retried like any other timeout)."""

    def __init__(self, what: str, seconds: float, setting: str, received: int):
        self.what = what
        self.seconds = seconds
        super().__init__(
            f"{what}: the answer did not complete within {seconds:g} s ({setting}; {received:,} bytes "
            "received); the connection was closed. Fix: retried automatically; if Nmbrs is slow, raise "
            f"{setting}"
        )


def _socket_of(response: requests.Response) -> socket.socket | None:
    raw = getattr(response, "raw", None)
    connection = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        return sock
    fp = getattr(getattr(raw, "_fp", None), "fp", None)
    sock = getattr(getattr(fp, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


class Deadline:
    """A watchdog over one streamed response: at `started + seconds` its socket is shut down."""

    def __init__(self, response: requests.Response, seconds: float, started: float | None = None):
        self.seconds = float(seconds)
        self.started = time.monotonic() if started is None else started
        self.expired = False
        self._response = response
        self._sock = _socket_of(response)
        self._timer = threading.Timer(max(0.0, self.started + self.seconds - time.monotonic()), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        self.expired = True
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        else:  # pragma: no cover - a transport without a reachable socket: close what we can
            self._response.close()

    def check(self) -> None:
        """Mark the deadline passed (for a caller between reads that sees the time is up)."""
        if not self.expired and time.monotonic() >= self.started + self.seconds:
            self._expire()

    def cancel(self) -> None:
        self._timer.cancel()

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


def read_body(
    response: requests.Response,
    what: str,
    *,
    seconds: float,
    limit: int,
    setting: str = "NMBRS_TIMEOUT_SECONDS",
    started: float | None = None,
) -> bytes:
    """The whole body of a streamed (`stream=True`) response, within `seconds` and `limit` bytes."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise ResponseTooLarge(what, limit, int(declared))
    parts: list[bytes] = []
    received = 0
    deadline = Deadline(response, seconds, started)
    try:
        try:
            for chunk in response.iter_content(CHUNK):
                received += len(chunk)
                if received > limit:
                    raise ResponseTooLarge(what, limit)
                parts.append(chunk)
                deadline.check()
                if deadline.expired:
                    break
        except requests.RequestException:
            if not deadline.expired:
                raise
        if deadline.expired:
            raise RequestTimedOut(what, seconds, setting, received)
    finally:
        deadline.cancel()
        response.close()
    return b"".join(parts)
