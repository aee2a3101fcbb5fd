"""A fault-injecting HTTP proxy for the tests: forwards to an upstream, or scripts what a broken one sends.

The simulator injects faults the API itself would produce (status codes, slow answers, revoked tokens);
what sits between the exporter and the API can do worse: reset connections, trickle a body forever,
serve a captive portal's HTML, a 40 MB answer, a rewritten one. `FaultProxy` listens on loopback
(optionally with TLS), forwards every request to the upstream, and for requests whose path matches a
rule answers with that rule's behaviour instead. Every behaviour is bounded in time and size and ends
when the proxy stops; every request that arrives is counted, so tests can bound the retries they cause.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "te", "upgrade"}
)


class Behaviour:
    """What the proxy does instead of forwarding. Subclasses override `serve`."""

    def serve(self, handler: ProxyHandler) -> None:
        raise NotImplementedError


class Forward(Behaviour):
    """Pass the request on to the upstream and relay its answer (the default)."""

    def serve(self, handler: ProxyHandler) -> None:
        status, headers, body = handler.forward()
        handler.answer(status, body, headers)


@dataclass
class Respond(Behaviour):
    """Answer with a fixed status and body, whatever the upstream would say."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()

    def serve(self, handler: ProxyHandler) -> None:
        handler.answer(self.status, self.body, [("Content-Type", self.content_type), *self.headers])


@dataclass
class Rewrite(Behaviour):
    """Forward, then answer with `fn` applied to the upstream's JSON (a 2xx answer only)."""

    fn: Callable[[Any], Any]

    def serve(self, handler: ProxyHandler) -> None:
        status, headers, body = handler.forward()
        if 200 <= status < 300:
            body = json.dumps(self.fn(json.loads(body)), ensure_ascii=False).encode()
        handler.answer(status, body, headers)


class Reset(Behaviour):
    """Read the request, then abort the connection: SO_LINGER 0 makes close() send a TCP RST."""

    def serve(self, handler: ProxyHandler) -> None:
        handler.reset()


@dataclass
class Trickle(Behaviour):
    """Send the headers, then the body one byte every `interval` seconds: a response that never ends.

    `chunked` sends each byte as its own chunk; otherwise a Content-Length far larger than what will
    ever be sent. Ends after `limit` seconds, when the client hangs up, or when the proxy stops.
    """

    interval: float = 1.0
    chunked: bool = False
    limit: float = 30.0

    def serve(self, handler: ProxyHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if self.chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", "1000000")
        handler.end_headers()
        handler.close_connection = True
        started = time.monotonic()
        pattern = b'{"value": ['
        i = 0
        while time.monotonic() - started < self.limit:
            byte = pattern[i : i + 1] if i < len(pattern) else b" "
            i += 1
            try:
                handler.wfile.write(b"1\r\n" + byte + b"\r\n" if self.chunked else byte)
                handler.wfile.flush()
            except OSError:
                return  # the client gave up: what the test wants to see
            if handler.server.stopping.wait(self.interval):
                return


@dataclass
class Rule:
    pattern: re.Pattern[str]
    behaviour: Behaviour
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self.pattern.search(path) is not None


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30  # a kept-alive connection nobody uses frees its thread eventually
    server: _ProxyServer

    body: bytes = b""

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        self.server.proxy.record(self.command, path)
        self.server.proxy.behaviour_for(self.command, path).serve(self)

    def forward(self) -> tuple[int, list[tuple[str, str]], bytes]:
        """The upstream's answer to this request: status, end-to-end headers, body."""
        proxy = self.server.proxy
        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(self.command, self.path, body=self.body or None, headers=headers)
            response = conn.getresponse()
            body = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            return response.status, kept, body
        finally:
            conn.close()

    def answer(self, status: int, body: bytes, headers: Iterable[tuple[str, str]]) -> None:
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            if self.server.stopping.is_set():
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def reset(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        self.close_connection = True


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, proxy: FaultProxy, context: ssl.SSLContext | None) -> None:
        self.proxy = proxy
        self.context = context
        self.stopping = threading.Event()
        self.conn_lock = threading.Lock()
        self.active: set[socket.socket] = set()
        super().__init__(("127.0.0.1", 0), ProxyHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's name (getfqdn); loopback needs no resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", int(self.socket.getsockname()[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        self.proxy.count_connection()
        if self.context is not None:
            # The handshake runs in the connection's own thread, on its first read, so a client
            # that refuses the certificate holds up nobody else.
            sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.conn_lock:
            self.active.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.conn_lock:
            self.active.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Failed TLS handshakes, clients that hung up, upstreams that went away: expected here.
        if isinstance(sys.exc_info()[1], OSError | http.client.HTTPException):
            return
        super().handle_error(request, client_address)


class FaultProxy:
    """A proxy on loopback in front of `upstream` (an http:// base URL). Use as a context manager."""

    def __init__(self, upstream: str, context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self._server = _ProxyServer(self, context)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._arrivals: list[tuple[float, str, str]] = []
        self._connections = 0
        scheme = "https" if context is not None else "http"
        self.port = self._server.server_port
        self.url = f"{scheme}://127.0.0.1:{self.port}"

    # --- rules ---

    def add(self, pattern: str, behaviour: Behaviour, method: str | None = None) -> None:
        """Answer requests whose path matches `pattern` (a regex, searched) with `behaviour`."""
        with self._lock:
            self._rules = [*self._rules, Rule(re.compile(pattern), behaviour, method)]

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def behaviour_for(self, method: str, path: str) -> Behaviour:
        for rule in self._rules:
            if rule.matches(method, path):
                return rule.behaviour
        return Forward()

    # --- counters ---

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self._arrivals.append((time.monotonic(), method, path))

    def count_connection(self) -> None:
        with self._lock:
            self._connections += 1

    @property
    def arrivals(self) -> list[tuple[float, str, str]]:
        """Every request that arrived since the last reset: (monotonic time, method, path)."""
        with self._lock:
            return list(self._arrivals)

    def counts(self) -> Counter[str]:
        """Requests per path since the last reset."""
        return Counter(path for _, _, path in self.arrivals)

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def reset_counters(self) -> None:
        with self._lock:
            self._arrivals = []
            self._connections = 0

    def drop_connections(self) -> None:
        """Close every open client connection, so the next request needs a new one."""
        server = self._server
        with server.conn_lock:
            active = list(server.active)
        for conn in active:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    # --- lifecycle ---

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="faultproxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server = self._server
        server.stopping.set()  # ends every trickle
        server.shutdown()
        server.server_close()
        self.drop_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
