"""The sandbox HTTP server: stdlib threads, HTTP/1.1 keep-alive, protocols mounted by path prefix.

Every API request (a path under a protocol's prefix) passes, in order: the added latency, the
shared token bucket (429), the injected failure rate (500), then the protocol. `/_sandbox/*`
endpoints (stats, sources, health) skip all of that and are not counted.
"""

from __future__ import annotations

import importlib
import random
import socket
import string
import sys
import threading
import time
import traceback
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from purelink.errors import PurelinkError
from purelink.sandbox.faults import FailureInjector, Stats, TokenBucket
from purelink.sandbox.protocol import (
    PROTOCOL_MODULES,
    SERVED,
    Protocol,
    Request,
    Response,
    SandboxConfig,
    json_response,
)

REQUEST_ID_CHARS = string.ascii_letters + string.digits


class SandboxError(PurelinkError):
    """The sandbox could not start with the settings given."""


class App:
    """Routing and faults, independent of the socket server."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.protocols: list[Protocol] = [importlib.import_module(m).create(config) for m in PROTOCOL_MODULES]
        self.stats = Stats()
        self.bucket = TokenBucket(config.rate_limit) if config.rate_limit else None
        self.failures = FailureInjector(config.fail_rate, config.seed)

    def protocol_for(self, path: str) -> Protocol | None:
        best, best_len = None, -1
        for proto in self.protocols:
            for prefix in proto.prefixes:
                matches = path == prefix.rstrip("/") or path.startswith(prefix)
                if matches and len(prefix) > best_len:
                    best, best_len = proto, len(prefix)
        return best

    def sources(self, base_url: str) -> dict:
        return {p.name: p.source(base_url) for p in self.protocols}

    def dispatch(self, request: Request) -> Response:
        if request.path.startswith("/_sandbox/"):
            return self.internal(request)
        proto = self.protocol_for(request.path)
        if proto is None:
            return json_response(404, {"error": {"type": "invalid_request_error", "message":
                                 f"Nothing is served at {request.path}; see GET /_sandbox/sources."}})
        if self.config.latency_ms:
            time.sleep(self.config.latency_ms / 1000)
        wait = self.bucket.take() if self.bucket else 0.0
        if wait:
            response = proto.rate_limited(request, wait)
        elif self.failures.should_fail():
            response = proto.server_error(request)
        else:
            try:
                response = proto.handle(request)
            except Exception:  # noqa: BLE001 - a sandbox bug must still answer the client, and show on stderr
                traceback.print_exc(file=sys.stderr)
                response = proto.server_error(request)
        self.stats.count(request.path, response.status)
        return response

    def internal(self, request: Request) -> Response:
        route = (request.method, request.path.rstrip("/"))
        if route == ("GET", "/_sandbox/stats"):
            return json_response(200, self.stats.snapshot())
        if route == ("POST", "/_sandbox/stats/reset"):
            self.stats.reset()
            return json_response(200, self.stats.snapshot())
        if route == ("GET", "/_sandbox/sources"):
            return json_response(200, self.sources(request.base_url))
        if route == ("GET", "/_sandbox/health"):
            return json_response(200, {"ok": True})
        if route == ("GET", "/_sandbox/config"):  # what it serves: `purelink demo` reuses a sandbox serving its data
            return json_response(200, {k: getattr(self.config, k) for k in SERVED})
        return json_response(404, {"error": {"message": f"Unknown sandbox endpoint {request.method} {request.path}"
                                             "; try GET /_sandbox/stats, /_sandbox/sources, /_sandbox/config, "
                                             "/_sandbox/health."}})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conn_lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def close_connections(self) -> None:
        """End kept-alive connections too, so nothing is served after `stop()`."""
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "purelink-sandbox"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: object) -> None:
        if self.server.app.config.log_requests:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _serve(self) -> None:
        length = self.headers.get("Content-Length")
        try:
            body = self.rfile.read(int(length)) if length else b""
        except ValueError:
            self.send_error(400, "Bad Content-Length")
            return
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # chunked bodies are not read; do not reuse the stream
        path, _, query = self.path.partition("?")
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        request = Request(self.command, path, query, {k.lower(): v for k, v in self.headers.items()}, body,
                          base_url=f"http://{host}")
        response = self.server.app.dispatch(request)
        self._write(response)
        self.log_request(response.status, len(response.body))

    def _write(self, response: Response) -> None:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {response.status} {reason}",
                 f"Server: {self.server_version}",
                 f"Date: {formatdate(usegmt=True)}",
                 f"Request-Id: req_{''.join(random.choices(REQUEST_ID_CHARS, k=14))}",
                 f"Content-Length: {len(response.body)}"]
        lines += [f"{name}: {value}" for name, value in response.headers]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self.wfile.write(head if self.command == "HEAD" else head + response.body)


class Sandbox:
    """A running sandbox API. Use `serve()` to start one; it is also a context manager.

    >>> with serve(customers=100) as sandbox:
    ...     httpx.get(f"{sandbox.stripe_base_url}/customers", auth=(sandbox.api_key, ""))
    """

    def __init__(self, config: SandboxConfig) -> None:
        check(config)
        self.config = config
        self.app = App(config)
        try:
            self._server = _Server((config.host, config.port), self.app)
        except OSError as exc:
            raise SandboxError(f"The sandbox could not listen on {config.host}:{config.port} ({exc.strerror}).",
                               "Choose another port with --port, or stop whatever is using this one.") from None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = self.config.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        return f"http://{host}:{self._server.server_address[1]}"

    @property
    def stripe_base_url(self) -> str:
        return self.sources()["stripe"]["base_url"]

    @property
    def api_key(self) -> str:
        return self.sources()["stripe"]["api_key"]

    @property
    def restricted_key(self) -> str:
        return self.sources()["stripe"]["restricted_key"]

    def sources(self) -> dict:
        """For each protocol spoken: the base URL to use and a key it accepts."""
        return self.app.sources(self.url)

    def stats(self) -> dict:
        """Requests served: `requests`, `rate_limited` (429s), `server_errors` (500s), `by_status`, `by_path`."""
        return self.app.stats.snapshot()

    def reset_stats(self) -> None:
        self.app.stats.reset()

    def start(self) -> Sandbox:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"purelink-sandbox-{self._server.server_address[1]}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.close_connections()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Sandbox {self.url}>"


def check(config: SandboxConfig) -> None:
    problems = []
    if config.customers < 0:
        problems.append("customers must be 0 or more")
    if config.latency_ms < 0:
        problems.append("latency must be 0 ms or more")
    if config.rate_limit is not None and config.rate_limit <= 0:
        problems.append("the rate limit must be above 0 requests per second")
    if not 0.0 <= config.fail_rate <= 1.0:
        problems.append("the fail rate must be between 0 and 1")
    if config.drift_after is not None and config.drift_after < 0:
        problems.append("drift-after must be 0 or more")
    if problems:
        raise SandboxError("The sandbox settings are invalid: " + "; ".join(problems) + ".",
                           "Fix the values and start it again.")


def serve(*, host: str = "127.0.0.1", port: int = 0, seed: int = 0, customers: int = 3421, latency_ms: float = 0,
          rate_limit: float | None = None, fail_rate: float = 0.0, drift_after: int | None = None,
          api_keys: tuple[str, ...] | list[str] = (), restricted_keys: tuple[str, ...] | list[str] = (),
          log_requests: bool = False) -> Sandbox:
    """Start a sandbox API in a background thread and return at once (port 0: any free port).

    The same `seed` and `customers` give byte-identical records. Faults: `latency_ms` added to
    every API response, `rate_limit` requests/s across all clients (429 with Retry-After),
    `fail_rate` share of requests answered 500 (retryable), `drift_after` position from which
    records change shape.
    """
    config = SandboxConfig(host=host, port=port, seed=seed, customers=customers, latency_ms=latency_ms,
                           rate_limit=rate_limit, fail_rate=fail_rate, drift_after=drift_after,
                           api_keys=tuple(api_keys), restricted_keys=tuple(restricted_keys),
                           log_requests=log_requests)
    return Sandbox(config).start()
