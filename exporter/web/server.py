"""HTTP: /metrics, /probe, the status page (/, /status.json), health, readiness, reload; TLS, basic auth, limits."""

from __future__ import annotations

import contextlib
import enum
import gzip
import io
import ipaddress
import logging
import re
import socket
import socketserver
import ssl
import threading
import time
import typing
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from exporter import __version__
from exporter.config import WebConfig, WebSecurity
from exporter.errors import ConfigError
from exporter.exposition import CONTENT_TYPE, ExpositionCache, Telemetry, customer_exposition
from exporter.model import Snapshot
from exporter.refresh import Refresher
from exporter.shard import Shard
from exporter.web.basic_auth import CHALLENGE, BasicAuth, Verdict
from exporter.web.status import HTML_HEADERS, HTML_TYPE, JSON_HEADERS, JSON_TYPE, Page, Process, StatusCache

log = logging.getLogger(__name__)

# Prometheus sends its scrape timeout; answer this much before it so the answer still arrives.
DEADLINE_MARGIN = 0.5

# Request size limits. Prometheus sends a request line under 200 bytes and about ten headers.
MAX_REQUEST_LINE = 8192
MAX_HEADERS = 100
MAX_HEADER_BYTES = 16384
MAX_BODY = 4096
# RFC 9110 5.1: a field name is a token. Anything else before the colon (whitespace above all) is refused,
# because a proxy in front may read the line differently: `Content-Length : 40` ignored here but honoured
# there is how a body gets served as a second request.
FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A response goes out in writes of at most this, each one recording progress: a connection whose client has
# read nothing for STALLED_WRITE is the first to be closed when every slot is taken.
WRITE_CHUNK = 256 * 1024
STALLED_WRITE = 1.0


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    # Further body parts, sent after `body` without first copying megabytes into one buffer.
    more: tuple[bytes, ...] = ()

    @property
    def length(self) -> int:
        return len(self.body) + sum(map(len, self.more))


class App:
    """What the HTTP handler serves; knows nothing about sockets, so tests can call it directly."""

    def __init__(
        self,
        refresher: Callable[[], Refresher],
        live: CollectorRegistry,
        telemetry: Telemetry,
        *,
        reload: Callable[[], None] | None = None,
        lifecycle: bool = False,
        clock: Callable[[], float] = time.monotonic,
        shard: Shard | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._refresher = refresher
        self._live, self._telemetry = live, telemetry
        self._reload = reload
        # POST /-/reload only with --web.enable-lifecycle, as in Prometheus: else anyone who can reach the
        # port (basic auth, if configured, aside) could make the exporter re-read its files at will.
        self._lifecycle = lifecycle
        self._clock, self._wall = clock, wall_clock
        self._cache = ExpositionCache()
        self.started = wall_clock()
        self.status = StatusCache(Process(__version__, self.started, shard or Shard()), wall_clock)

    def prerender(self, snap: Snapshot) -> None:
        """Encode the exposition of a new snapshot now, so that no scrape waits for it."""
        self._cache.get(snap)

    def _collect(self, scrape_timeout: str | None) -> Snapshot:
        refresher = self._refresher()
        wait = refresher.snapshot().config.cache.max_scrape_wait
        if scrape_timeout:
            # A malformed header must not break scrapes: the configured cap applies then.
            with contextlib.suppress(ValueError):
                wait = min(wait, max(float(scrape_timeout) - DEADLINE_MARGIN, 0.0))
        return refresher.snapshot_within(wait)

    def probe(self, query: str, scrape_timeout: str | None, accept_encoding: str) -> Response:
        """One customer's metrics (`/probe?customer_id=...`), from the same cache as /metrics."""
        ids = parse_qs(query).get("customer_id", [])
        if len(ids) != 1 or not ids[0]:
            return Response(400, TEXT, b"give exactly one customer_id: /probe?customer_id=...\n")
        body = customer_exposition(self._collect(scrape_timeout), ids[0])
        if body is None:
            return Response(
                404, TEXT, b"customer not exported here: unknown, excluded by config, or owned by another shard\n"
            )
        if "gzip" in accept_encoding.lower():
            return Response(200, CONTENT_TYPE, gzip.compress(body, 6), (("Content-Encoding", "gzip"),))
        return Response(200, CONTENT_TYPE, body)

    def metrics(self, scrape_timeout: str | None, accept_encoding: str) -> Response:
        start = self._clock()
        snap = self._collect(scrape_timeout)
        exposition = self._cache.get(snap)
        self._telemetry.scrape_duration.set(self._clock() - start)
        live = generate_latest(self._live)
        if "gzip" in accept_encoding.lower():
            # The data part was compressed when it changed; only the small live part is compressed now.
            first, *rest = exposition.gzip_with(live)
            return Response(200, CONTENT_TYPE, first, (("Content-Encoding", "gzip"),), tuple(rest))
        return Response(200, CONTENT_TYPE, exposition.body, (), (live,))

    def _status_page(self) -> Page:
        # A look at the page starts a refresh when the data is stale (single flight, as for scrapes) but
        # never waits for it: the page shows the data it has and how old it is.
        return self.status.get(self._refresher().snapshot_within(0.0))

    def landing(self, accept_encoding: str = "") -> Response:
        """The status page `/`: header, the fleet with problems first, filter; built once per data change."""
        page = self._status_page()
        gzipped = "gzip" in accept_encoding.lower()
        first, *rest = page.html_parts(self._wall(), gzipped)
        headers = ((("Content-Encoding", "gzip"),) if gzipped else ()) + HTML_HEADERS
        return Response(200, HTML_TYPE, first, headers, tuple(rest))

    def status_json(self) -> Response:
        """`/status.json`: the same data as the page, for scripts."""
        return Response(200, JSON_TYPE, self._status_page().json(), JSON_HEADERS)

    def ready(self) -> Response:
        if self._refresher().snapshot().refreshed:
            return Response(200, "text/plain; charset=utf-8", b"ready\n")
        return Response(503, "text/plain; charset=utf-8", b"not ready: first refresh not attempted yet\n")

    def reload(self) -> Response:
        if not self._lifecycle:
            return Response(403, TEXT, b"Lifecycle API is not enabled.\n")
        if self._reload is None:
            return Response(404, TEXT, b"reload is not available in this mode\n")
        # The answer names no file and no key: the log line has the detail, for whoever runs the exporter.
        try:
            self._reload()
        except ConfigError:
            return Response(500, TEXT, b"reload failed, old config kept; see the exporter's log\n")
        except Exception:
            log.exception("reload failed unexpectedly")
            return Response(500, TEXT, b"reload failed; see the exporter's log\n")
        return Response(200, TEXT, b"config reloaded\n")


TEXT = "text/plain; charset=utf-8"
ROUTES = frozenset({"/metrics", "/probe", "/", "/status.json", "/-/healthy", "/-/ready", "/-/reload"})


@dataclass(frozen=True)
class Policy:
    """What the web config and the main config's `web` section ask of the listener; swapped on reload."""

    web: WebConfig
    security: WebSecurity
    auth: BasicAuth

    @classmethod
    def of(cls, web: WebConfig, security: WebSecurity, previous: Policy | None = None) -> Policy:
        if previous is not None and previous.security.users == security.users:
            auth = previous.auth  # same users: keep the warm caches
            auth.failures_per_minute = web.auth_failures_per_minute
        else:
            auth = BasicAuth(security.users, security.dummy_hash, web.auth_failures_per_minute)
        return cls(web, security, auth)


# --- connections ---------------------------------------------------------------------------------


class Phase(enum.Enum):
    READ = "read"  # TLS handshake, request line, headers, body: bounded by read_header_timeout
    AUTH = "auth"  # checking the password, maybe waiting for bcrypt: evictable, nothing is spent yet
    BUSY = "busy"  # the exporter is working on the request: never cut, never evicted
    WRITE = "write"  # sending the response: bounded by write_timeout
    IDLE = "idle"  # kept alive, waiting for the next request: bounded by idle_timeout


@dataclass(eq=False)
class Connection:
    sock: socket.socket
    phase: Phase
    deadline: float | None
    since: float
    client: str = ""  # client_key(): eviction takes from the address holding the most slots
    # A request on it passed basic auth (or none is configured): evicted after those that never did.
    trusted: bool = False
    cut: bool = False
    progress: float = 0.0  # when the last write went out (WRITE phase)


class Handler(BaseHTTPRequestHandler):
    server: Server
    _headers_buffer: list[bytes]  # the base class's, undeclared in its stubs: _send writes it with the body
    protocol_version = "HTTP/1.1"
    server_version = "avepoint-backup-exporter"
    sys_version = ""

    def __init__(
        self,
        request: socket.socket,
        client_address: typing.Any,
        server: socketserver.BaseServer,
        conn: Connection | None = None,
    ) -> None:
        self.conn = conn if conn is not None else Connection(request, Phase.READ, None, 0.0)
        self.policy = typing.cast(Server, server).policy
        self.body = b""
        self._served = 0
        self._answered = False
        super().__init__(request, client_address, server)

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        web = self.policy.web
        # A backstop for every single read and write; the server enforces the real deadlines.
        self.connection.settimeout(max(web.read_header_timeout, web.write_timeout, web.idle_timeout))

    def handle_one_request(self) -> None:
        server = self.server
        try:
            if self._served:
                server.set_phase(self.conn, Phase.IDLE, self.policy.web.idle_timeout)
                if not typing.cast(io.BufferedReader, self.rfile).peek(1):
                    self.close_connection = True
                    return
                server.set_phase(self.conn, Phase.READ, server.policy.web.read_header_timeout)
            self.policy = server.policy
            self.body, self._answered = b"", False
            if not self._read_request():
                self.close_connection = True
                if self._answered:
                    self._linger()
                return
            server.set_phase(self.conn, Phase.BUSY, None)
            self._dispatch()
            self.wfile.flush()
            self._served += 1
        except OSError as exc:  # timeouts, resets, TLS alerts, a connection cut by the server
            log.debug("client connection ended", extra={"client": self.client_address[0], "error": _reason(exc)})
            self.close_connection = True

    def _read_request(self) -> bool:
        """Read the request line, headers and body within the limits; False: the connection ends."""
        line = self.rfile.readline(MAX_REQUEST_LINE + 1)
        if not line:
            return False
        if len(line) > MAX_REQUEST_LINE:
            return self._refuse(HTTPStatus.REQUEST_URI_TOO_LONG, "request line too long")
        self.raw_requestline = line
        if len(line.split()) != 3:  # HTTP/0.9 or garbage: nothing this exporter serves
            return self._refuse(HTTPStatus.BAD_REQUEST, "bad request line")
        lines: list[bytes] = []
        total = 0
        while True:
            header = self.rfile.readline(MAX_HEADER_BYTES - total + 1)
            total += len(header)
            if total > MAX_HEADER_BYTES:
                return self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request headers too large")
            if not header:
                return False
            if header in (b"\r\n", b"\n"):
                break
            problem = _header_problem(header)
            if problem:
                return self._refuse(HTTPStatus.BAD_REQUEST, problem)
            lines.append(header)
            if len(lines) > MAX_HEADERS:
                return self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "too many request headers")
        # The stdlib parser reads headers from rfile: hand it the block read above, within the limits.
        stream, self.rfile = self.rfile, io.BytesIO(b"".join(lines) + b"\r\n")
        try:
            parsed = self.parse_request()
        finally:
            self.rfile = stream
        return parsed and self._read_body()

    def _read_body(self) -> bool:
        if self.headers.get("Transfer-Encoding"):
            self.send_error(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length, not a chunked body")
            return False
        length = self._content_length()
        if length is None:
            return False
        if length:
            self.body = self.rfile.read(length)
            if len(self.body) < length:
                return False
        return True

    def _content_length(self) -> int | None:
        values = {v.strip() for v in self.headers.get_all("Content-Length") or ()}
        if not values:
            return 0
        value = values.pop()
        if values or not re.fullmatch(r"[0-9]{1,12}", value):
            self.send_error(HTTPStatus.BAD_REQUEST, "bad Content-Length")
            return None
        if int(value) > MAX_BODY:
            self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
            return None
        return int(value)

    def handle_expect_100(self) -> bool:
        # Refuse a large body before the client sends it; the interim response carries no extra headers.
        if self._content_length() is None:
            return False
        self.send_response_only(HTTPStatus.CONTINUE)
        BaseHTTPRequestHandler.end_headers(self)
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A plain-text error in one write, and the connection closes (the request may not have been read).

        Unlike the base class, the status line carries the standard reason phrase, never `message`,
        which can quote what the client sent.
        """
        self._answered = True
        status = HTTPStatus(code)
        body = f"{message or status.phrase}\n".encode("utf-8", "replace")
        self._send(Response(code, TEXT, body, (("Connection", "close"),)), head=self.command == "HEAD")

    def _linger(self) -> None:
        """After refusing a request not yet read to its end, read on briefly before closing, because
        closing with unread data resets the connection and the client may lose the answer."""
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.connection, socket.SHUT_WR)
            self.connection.settimeout(0.5)
            for _ in range(16):
                if not self.connection.recv(4096):
                    break

    def _refuse(self, status: HTTPStatus, message: str) -> bool:
        self.requestline, self.request_version, self.command = "", "", ""
        self.send_error(status, message)
        return False

    def _dispatch(self) -> None:
        path = self.path.split("?", 1)[0]
        verdict = self._authorize(path)
        if verdict is Verdict.THROTTLED:
            wait = self.policy.auth.retry_after(self.conn.client)
            body = b"too many password checks from this address, retry later\n"
            self._send(Response(429, TEXT, body, (("Retry-After", str(wait)),)), head=self.command == "HEAD")
            return
        if verdict is Verdict.DENIED:
            challenge = Response(401, TEXT, b"unauthorized\n", (("WWW-Authenticate", CHALLENGE),))
            self._send(challenge, head=self.command == "HEAD")
            return
        method = getattr(self, "do_" + self.command, None)
        if method is None:
            self.send_error(HTTPStatus.NOT_IMPLEMENTED, "unsupported method")
            return
        method()

    def _authorize(self, path: str) -> Verdict:
        auth = self.policy.auth
        if not auth.enabled or (path == "/-/healthy" and self.policy.web.open_health_check):
            self.conn.trusted = self.conn.trusted or not auth.enabled
            return Verdict.OK
        server, conn = self.server, self.conn
        # Waiting for bcrypt behind other checks holds a slot: such a connection may be evicted.
        server.set_phase(conn, Phase.AUTH, self.policy.web.read_header_timeout)
        verdict = auth.verdict(self.headers.get("Authorization"), conn.client, lambda: conn.cut)
        server.set_phase(conn, Phase.BUSY, None)
        if verdict is Verdict.OK:
            conn.trusted = True
            return verdict
        # Neither the user name nor the password: a user who typed the password as the name must not find
        # it in the log.
        log.debug("basic auth failed", extra={"client": self.client_address[0], "path": path, "verdict": verdict.value})
        return verdict

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/-/reload":
            self._send(self.server.app.reload())
        else:
            self._send(Response(405 if path in ROUTES else 404, TEXT, b"method not allowed\n"))

    def _serve(self, head: bool) -> None:
        path = self.path.split("?", 1)[0]
        app = self.server.app
        try:
            if path == "/metrics":
                response = app.metrics(
                    self.headers.get("X-Prometheus-Scrape-Timeout-Seconds"),
                    self.headers.get("Accept-Encoding", ""),
                )
            elif path == "/probe":
                response = app.probe(
                    self.path.partition("?")[2],
                    self.headers.get("X-Prometheus-Scrape-Timeout-Seconds"),
                    self.headers.get("Accept-Encoding", ""),
                )
            elif path == "/":
                response = app.landing(self.headers.get("Accept-Encoding", ""))
            elif path == "/status.json":
                response = app.status_json()
            elif path == "/-/healthy":
                response = Response(200, TEXT, b"healthy\n")
            elif path == "/-/ready":
                response = app.ready()
            elif path == "/-/reload":
                response = Response(405, TEXT, b"use POST to reload\n", (("Allow", "POST"),))
            else:
                response = Response(404, TEXT, b"not found\n")
        except Exception:  # the page must answer, whatever broke behind it
            log.exception("internal error serving request", extra={"path": path})
            response = Response(500, TEXT, b"internal error, see the exporter's log\n")
        self._send(response, head=head)

    def _send(self, response: Response, head: bool = False) -> None:
        """Head and body in as few writes as the chunking allows: a separate small write for the head
        would wait for the client's delayed ACK (40 ms) on every kept-alive request."""
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(response.length))
        # A header the web config sets (e.g. its own Content-Security-Policy) replaces the page's.
        configured = {name.lower() for name, _ in self.policy.security.headers}
        for name, value in response.headers:
            if name.lower() not in configured:
                self.send_header(name, value)
        self.end_headers()
        first = b"".join(self._headers_buffer)
        self._headers_buffer.clear()
        self._write((first,) if head else (first, response.body, *response.more))

    def end_headers(self) -> None:
        # Every response, errors included, carries the web config's headers; writing starts the clock.
        # The head stays buffered: _send writes it with the body.
        for name, value in self.policy.security.headers:
            self.send_header(name, value)
        self.server.set_phase(self.conn, Phase.WRITE, self.policy.web.write_timeout)
        self._headers_buffer.append(b"\r\n")

    def _write(self, parts: tuple[bytes, ...]) -> None:
        """Send `parts` in writes of WRITE_CHUNK, joining small parts and slicing big ones (no big copies);
        each write that completes records progress. One sendall per write also suits TLS, which has no sendmsg."""
        pending: list[memoryview] = []
        size = 0
        for part in parts:
            view = memoryview(part)
            while view:
                piece = view[: WRITE_CHUNK - size]
                pending.append(piece)
                size += len(piece)
                view = view[len(piece) :]
                if size >= WRITE_CHUNK:
                    self._send_chunk(pending)
                    pending, size = [], 0
        if pending:
            self._send_chunk(pending)

    def _send_chunk(self, pieces: list[memoryview]) -> None:
        self.connection.sendall(pieces[0] if len(pieces) == 1 else b"".join(pieces))
        self.conn.progress = time.monotonic()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
        log.debug("http request", extra={"client": self.client_address[0], "request": format % args})


def _header_problem(line: bytes) -> str:
    """Why a request header line is refused (RFC 9112 5.1, 5.2), or '' when it is well formed."""
    if line[:1] in (b" ", b"\t"):
        # Refused rather than unfolded, as RFC 9112 5.2 allows: no client this exporter serves folds.
        return "obsolete line folding (a header line starting with whitespace) is not accepted"
    name, colon, value = line.partition(b":")
    if not colon:
        return "a header line without a colon"
    if not FIELD_NAME.fullmatch(name):
        return "whitespace before the colon or an invalid header field name"
    value = value[:-2] if value.endswith(b"\r\n") else value.rstrip(b"\n")
    if b"\r" in value or b"\0" in value:
        return "a CR or NUL in a header value"
    return ""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return str(exc) or type(exc).__name__


PLAIN_HTTP_TO_TLS = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
    b"Content-Length: 48\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)


class Server(ThreadingHTTPServer):
    """One thread per connection, at most `web.max_connections` of them, each with deadlines.

    The accept loop only registers a connection and starts its thread: the TLS handshake and every
    read happen in that thread, so a client that connects and says nothing blocks no one. The loop's
    housekeeping (`service_actions`, every poll interval) cuts connections past their deadline.
    When every slot is taken, one without a request in progress is closed to make room (see
    `_victim_locked`); when all are busy with requests, the new connection is refused (a 503 for
    plain HTTP; closed for TLS).
    """

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        app: App,
        web: WebConfig | None = None,
        security: WebSecurity | None = None,
    ) -> None:
        host = address[0]
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.app = app
        self.policy = Policy.of(web or WebConfig(), security or WebSecurity())
        self._conns: dict[int, Connection] = {}
        self._conns_lock = threading.Lock()
        self._refused = 0
        self._refused_logged = 0.0
        super().__init__(address, Handler)

    def configure(self, web: WebConfig, security: WebSecurity) -> None:
        """New users and headers apply from the next request, TLS settings and timeouts from the next connection."""
        self.policy = Policy.of(web, security, self.policy)

    @property
    def tls(self) -> bool:
        return self.policy.security.ssl_context is not None

    @property
    def connections(self) -> int:
        with self._conns_lock:
            return len(self._conns)

    def process_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: typing.Any) -> None:
        sock = typing.cast(socket.socket, request)
        policy = self.policy
        now = time.monotonic()
        conn = Connection(sock, Phase.READ, now + policy.web.read_header_timeout, now, client_key(client_address))
        with self._conns_lock:
            if len(self._conns) >= policy.web.max_connections:
                victim = self._victim_locked(policy, now)
                if victim is None:
                    self._refuse(sock, policy)
                    return
                self._cut(victim)
            self._conns[id(conn)] = conn
        thread = threading.Thread(target=self._serve_connection, args=(conn, client_address), daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no more threads: the connection goes, the server stays
            self._forget(conn)
            self.shutdown_request(sock)

    def _victim_locked(self, policy: Policy, now: float) -> Connection | None:
        """The connection to close for a new one, or None when every one is busy with a request.

        First those that never passed basic auth (idle, sending a request, or waiting for a password
        check), so that guessers cannot crowd out Prometheus; then those writing a response that their
        client has not read for STALLED_WRITE (else clients that never read would hold every slot until
        web.write_timeout); then idle ones, then ones sending a request. Within a rank, from the address
        that holds the most connections, then the oldest.
        """
        per_client = Counter(c.client for c in self._conns.values())
        auth = policy.auth.enabled

        def rank(c: Connection) -> int | None:
            if c.phase is Phase.AUTH or (auth and not c.trusted and c.phase in (Phase.IDLE, Phase.READ)):
                return 0
            if c.phase is Phase.WRITE and now - c.progress >= STALLED_WRITE:
                return 1
            if c.phase is Phase.IDLE:
                return 2
            if c.phase is Phase.READ:
                return 3
            return None

        ranked = [
            (r, -per_client[c.client], c.since, id(c), c) for c in self._conns.values() if (r := rank(c)) is not None
        ]
        return min(ranked)[-1] if ranked else None

    def _serve_connection(self, conn: Connection, client_address: typing.Any) -> None:
        try:
            with contextlib.suppress(OSError):
                # Responses go out whole (see Handler._send): nothing is gained by waiting to coalesce.
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            context = self.policy.security.ssl_context
            if context is None or self._handshake(conn, context, client_address):
                Handler(conn.sock, client_address, self, conn)
        except Exception:
            self.handle_error(conn.sock, client_address)
        finally:
            self._forget(conn)
            self.shutdown_request(conn.sock)

    def _handshake(self, conn: Connection, context: ssl.SSLContext, client_address: typing.Any) -> bool:
        conn.sock.settimeout(self.policy.web.read_header_timeout)
        with self._conns_lock:
            if id(conn) not in self._conns:
                return False  # cut while waiting for its thread
            tls = context.wrap_socket(conn.sock, server_side=True, do_handshake_on_connect=False)
            conn.sock = tls
        try:
            tls.do_handshake()
        except OSError as exc:
            # Scanners, health checks that speak plain HTTP, clients without the right certificate:
            # routine, and nothing for an operator's error log.
            log.debug("TLS handshake failed", extra={"client": client_address[0], "error": _reason(exc)})
            if isinstance(exc, ssl.SSLError) and exc.reason == "HTTP_REQUEST":
                _answer_plain_http(tls)
            return False
        return True

    def set_phase(self, conn: Connection, phase: Phase, timeout: float | None) -> None:
        now = time.monotonic()
        with self._conns_lock:
            conn.phase, conn.since, conn.progress = phase, now, now
            conn.deadline = None if timeout is None else now + timeout

    def service_actions(self) -> None:
        super().service_actions()
        now = time.monotonic()
        with self._conns_lock:
            for conn in [c for c in self._conns.values() if c.deadline is not None and c.deadline <= now]:
                log.debug("closing a slow or idle client connection", extra={"phase": conn.phase.value})
                self._cut(conn)

    def _cut(self, conn: Connection) -> None:
        """End a connection from outside its thread (with the lock held): its blocked read or write returns."""
        self._conns.pop(id(conn), None)
        conn.cut = True
        with contextlib.suppress(OSError):
            # The plain socket's shutdown, also under TLS: the TLS layer is its thread's to touch.
            socket.socket.shutdown(conn.sock, socket.SHUT_RDWR)

    def _forget(self, conn: Connection) -> None:
        with self._conns_lock:
            self._conns.pop(id(conn), None)

    def _refuse(self, sock: socket.socket, policy: Policy) -> None:
        if policy.security.ssl_context is None:
            body = b"too many connections, retry later\n"
            head = [
                "HTTP/1.1 503 Service Unavailable",
                "Content-Type: text/plain; charset=utf-8",
                f"Content-Length: {len(body)}",
                "Retry-After: 1",
                "Connection: close",
                *(f"{name}: {value}" for name, value in policy.security.headers),
            ]
            with contextlib.suppress(OSError):
                sock.setblocking(False)  # the accept loop never waits on a client
                sock.send("\r\n".join(head).encode() + b"\r\n\r\n" + body)
        self.shutdown_request(sock)
        self._refused += 1
        now = time.monotonic()
        if now - self._refused_logged >= 60:
            self._refused_logged = now
            log.warning(
                "refusing connections: every one of web.max_connections is busy with a request",
                extra={"max_connections": policy.web.max_connections, "refused": self._refused},
            )

    def server_close(self) -> None:
        super().server_close()
        with self._conns_lock:
            for conn in list(self._conns.values()):
                self._cut(conn)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-request is routine, not a stack trace on stderr.
        log.debug("client connection error", exc_info=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = str(host)
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{shown}:{port}"


def client_key(client_address: typing.Any) -> str:
    """Whom the per-client limits count: the IPv4 address, or the /64 of an IPv6 one, since one host
    usually has a whole /64 to pick addresses from."""
    host = str(client_address[0]) if isinstance(client_address, tuple) and client_address else ""
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return host


def _answer_plain_http(tls: ssl.SSLSocket) -> None:
    """Tell a plain-HTTP client what went wrong, as Go's servers do, on the raw socket under the TLS one."""
    with contextlib.suppress(OSError):
        tls.settimeout(0.5)
        socket.socket.send(tls, PLAIN_HTTP_TO_TLS)
        socket.socket.shutdown(tls, socket.SHUT_WR)
        # Read what is left of the request, so closing does not reset the connection under the answer.
        for _ in range(16):
            if not socket.socket.recv(tls, 4096):
                break


def parse_listen_address(value: str) -> tuple[str, int]:
    """`:9877`, `0.0.0.0:9877`, `[::1]:9877` -> (host, port). Raises ConfigError naming the flag."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"--web.listen-address: expected host:port, not {value!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    # An empty host means every interface, as in every Prometheus exporter.
    return (host or "0.0.0.0", int(port))  # noqa: S104


def serve_in_thread(server: Server) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    return thread


__all__ = ["App", "Policy", "Server", "parse_listen_address", "serve_in_thread"]
