"""The sandbox HTTP server: a threaded http.server in a background thread with clean shutdown.

    sb = SandboxServer.start(scenario="demo", seed=42, host="127.0.0.1", port=0)
    sb.url, sb.env_vars(), sb.state, sb.stop()

Every API request is counted (see counters.py), may be throttled (the `throttle` knob) and may meet
an injected fault (see faults.py) before it reaches the SOAP, REST or identity handlers.
"""

from __future__ import annotations

import logging
import re
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from pipelines.sandbox import admin, contract, oauth_endpoints, rest, soap
from pipelines.sandbox.faults import ANSWER_KINDS, FaultRule
from pipelines.sandbox.scenarios import build_config
from pipelines.sandbox.state import SandboxState
from pipelines.sandbox.web import Request, Response, error_response

log = logging.getLogger(__name__)
WSDL_DIR = Path(__file__).resolve().parents[1] / "lib" / "nmbrs" / "wsdl"
MAX_BODY_BYTES = 5_000_000
_SOAP_PATH = re.compile(r"^/soap/v3/(?P<service>[A-Za-z]+)\.asmx$", re.IGNORECASE)
_SERVICES_LOWER = {name.lower(): name for name in contract.SERVICES}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: SandboxState):
        super().__init__(address, _Handler)
        self.state = state
        self._open: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        self._track_lock = threading.Lock()

    def process_request(self, request, client_address):
        worker = threading.Thread(target=self._serve_connection, args=(request, client_address), daemon=True)
        with self._track_lock:
            self._open.add(request)
            self._workers.add(worker)
        worker.start()

    def _serve_connection(self, request, client_address):
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._track_lock:
                self._open.discard(request)
                self._workers.discard(threading.current_thread())

    def handle_error(self, request, client_address) -> None:
        log.debug("sandbox connection from %s ended with an error", client_address[0], exc_info=True)

    def close_connections(self, timeout: float) -> None:
        with self._track_lock:
            sockets, workers = list(self._open), list(self._workers)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for worker in workers:
            worker.join(timeout)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "NmbrsSandbox/1.0"
    timeout = 120  # idle keep-alive connections close after this many seconds
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's signature)
        log.debug("sandbox %s %s", self.command, urlsplit(self.path).path)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _read_request(self) -> Request | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(
                error_response(
                    413, 41301, "Payload_Too_Large", f"requests are limited to {MAX_BODY_BYTES} bytes"
                )
            )
            self.close_connection = True
            return None
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        return Request(
            self.command,
            parts.path,
            dict(parse_qsl(parts.query, keep_blank_values=True)),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )

    def _handle(self) -> None:
        request = self._read_request()
        if request is None:
            return
        state = self.server.state
        if request.path.startswith("/_admin/"):
            self._send(admin.handle(state, request))
            return
        key, respond = self._route(request)
        with state.counters.track(key):
            fault = (
                state.faults.take(key)
                if key.split(":", 1)[0] in ("soap", "rest", "identity", "wsdl")
                else None
            )
            if fault is None and key.startswith(("soap:", "rest:")) and state.throttled():
                fault = FaultRule(key, "429", params={"retry_after": state.config.retry_after_seconds})
            if fault is not None and fault.kind == "slow":
                if state.stopping.wait(float(fault.params.get("seconds", 5.0))):
                    return
            transport = _transport_fault(fault, key)
            if fault is not None and fault.kind == "reset":
                self._reset()
                return
            response = transport or respond(fault)
            if fault is not None and fault.kind == "pad":
                response = _padded(response, float(fault.params.get("megabytes", 2)))
            if fault is not None and fault.kind == "truncate":
                self._send(response, truncate=True)
                return
            if fault is not None and fault.kind == "drip":
                self._drip(response, fault)
                return
            if fault is not None and fault.params.get("chunked"):
                self._send_chunked(response)
                return
            self._send(response)

    def _route(self, request: Request):
        state = self.server.state
        match = _SOAP_PATH.match(request.path)
        if match and match.group("service").lower() in _SERVICES_LOWER:
            service = _SERVICES_LOWER[match.group("service").lower()]
            if request.method == "GET" and "wsdl" in {k.lower() for k in request.query}:
                return f"wsdl:{service}", lambda fault: _wsdl(service)
            if request.method == "POST":
                operation = soap.peek_operation(service, request)
                return f"soap:{service}.{operation}", lambda fault: soap.handle(
                    state, service, request, fault
                )
        found = rest.route(request.path)
        if found:
            name, params = found
            return f"rest:{name}", lambda fault: rest.handle(state, name, params, request, fault)
        identity = oauth_endpoints.route(request.path)
        if identity:
            return f"identity:{identity}", lambda fault: oauth_endpoints.handle(state, identity, request)
        return "other:not_found", lambda fault: error_response(
            404, 40401, "Not_Found", f"no endpoint at {request.path}"
        )

    def _send(self, response: Response, truncate: bool = False) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        body = response.body[: len(response.body) // 2] if truncate else response.body
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
            return
        if truncate:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send_chunked(self, response: Response, piece: int = 1 << 16) -> None:
        """An answer without Content-Length (`chunked` fault parameter): its size shows only as it is read."""
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for offset in range(0, len(response.body), piece):
                part = response.body[offset : offset + piece]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _drip(self, response: Response, fault: FaultRule) -> None:
        """Fault `drip`: the whole answer, `bytes_per_second` at a time in tenths of a second, until it
        is sent, the client hangs up or the sandbox stops; records how long it ran in `fault.served`."""
        rate = max(1, int(fault.params.get("bytes_per_second", 20)))
        piece = max(1, rate // 10)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        started = time.monotonic()
        state = self.server.state
        try:
            self.wfile.flush()
            for offset in range(0, len(response.body), piece):
                self.wfile.write(response.body[offset : offset + piece])
                self.wfile.flush()
                if state.stopping.wait(piece / rate):
                    break
        except OSError:
            pass
        finally:
            fault.served.append(round(time.monotonic() - started, 2))
            self.close_connection = True

    def _reset(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


def _padded(response: Response, megabytes: float) -> Response:
    """Fault `pad`: the answer followed by `megabytes` of spaces (JSON and XML allow them)."""
    padding = b" " * int(megabytes * (1 << 20))
    return Response(response.status, response.body + padding, response.content_type, dict(response.headers))


def _transport_fault(fault: FaultRule | None, key: str) -> Response | None:
    if fault is None or fault.kind in ("slow", "reset", "truncate", "drip", "pad", *ANSWER_KINDS):
        return None
    if fault.kind == "429":
        retry = str(int(fault.params.get("retry_after", 1)))
        return error_response(
            429,
            42908,
            "Too_Many_Calls",
            f"The amount of calls is above the threshold for your subscription plan; retry after {retry} s.",
            {"Retry-After": retry},
        )
    if fault.kind in REST_ONLY_KINDS:
        return REST_ONLY_KINDS[fault.kind](fault) if key.startswith("rest:") else None
    status = int(fault.kind)
    if key.startswith("rest:"):
        code, title, detail = SERVER_ERRORS[status]
        return error_response(status, code, title, detail)
    title = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}[status]
    page = f"<html><head><title>{title}</title></head><body><h1>{status} {title}</h1></body></html>"
    return Response(status, page.encode(), "text/html; charset=utf-8")


# The vendor's error bodies for 5xx (its OpenAPI document's examples).
SERVER_ERRORS = {
    500: (50001, "Unkown", "An unexpected error has occurred."),
    502: (50201, "Bad_Gateway", "A gateway error has ocurred."),
    503: (50301, "Service_Unavailable", "The API is not available, it can be because of an update."),
}
REST_ONLY_KINDS = {
    "401": lambda fault: error_response(
        401, 40102, "Invalid_Token", "Token is invalid.", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    ),
    "quota": lambda fault: error_response(429, 42909, "Quota_Exceeded", "Out of call volume quota."),
    "forbidden": lambda fault: error_response(
        403,
        int(fault.params.get("code", 40303)),
        "Unauthorized_AccessData",
        "You do not have access for the debtor or company you are trying to reach.",
    ),
}


def _wsdl(service: str) -> Response:
    return Response(200, (WSDL_DIR / f"{service}.wsdl").read_bytes(), "text/xml; charset=utf-8")


class SandboxServer:
    """A running sandbox. Create it with `SandboxServer.start(...)`; stop it with `stop()`."""

    def __init__(self, state: SandboxState, host: str, port: int):
        self.state = state
        self._server = _Server((host, port), state)
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"nmbrs-sandbox-{self.port}",
            daemon=True,
        )

    @classmethod
    def start(
        cls, scenario: str = "demo", seed: int = 42, host: str = "127.0.0.1", port: int = 0, **knobs: object
    ) -> SandboxServer:
        server = cls(SandboxState(build_config(scenario, seed, **knobs)), host, port)
        server._thread.start()
        return server

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in str(self.host) else self.host
        return f"http://{host}:{self.port}"

    def env_vars(self) -> dict[str, str]:
        """NMBRS_* settings that point at this sandbox with full-permission credentials."""
        return {
            "NMBRS_SOAP_URL": f"{self.url}/soap/v3/",
            "NMBRS_USERNAME": contract.USERNAME,
            "NMBRS_TOKEN": contract.TOKEN,
            "NMBRS_DOMAIN": contract.DOMAIN,
            "NMBRS_REST_URL": self.url,
            "NMBRS_IDENTITY_URL": self.url,
            "NMBRS_CLIENT_ID": contract.CLIENT_ID,
            "NMBRS_CLIENT_SECRET": contract.CLIENT_SECRET,
            "NMBRS_SUBSCRIPTION_KEY": contract.SUBSCRIPTION_KEY,
        }

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, close the listening socket and every open connection, and join the threads."""
        self.state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections(timeout)
        self._thread.join(timeout)

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
