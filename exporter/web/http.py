"""One connection's requests: read within limits, headers checked against desync, phases and their deadlines, writes."""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import re
import socket
import socketserver
import ssl
import time
import typing
from collections.abc import Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler

from exporter.web.app import TEXT, Response
from exporter.web.basic_auth import CHALLENGE, Verdict
from exporter.web.connections import Connection, Phase

if typing.TYPE_CHECKING:
    from exporter.web.listener import Server

log = logging.getLogger(__name__)

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
# read nothing for STALLED_WRITE (see connections) is the first to be closed when every slot is taken.
WRITE_CHUNK = 256 * 1024


class Handler(BaseHTTPRequestHandler):
    """One connection's requests, one after another; the server's connection table tracks its phase."""

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
        self.policy = typing.cast("Server", server).policy
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
            log.debug("client connection ended", extra={"client": self.client_address[0], "error": error_reason(exc)})
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
        self._send(self.server.app.post(self.path.split("?", 1)[0]))

    def _serve(self, head: bool) -> None:
        path, _, query = self.path.partition("?")
        response = self.server.app.get(
            path,
            query,
            self.headers.get("X-Prometheus-Scrape-Timeout-Seconds"),
            self.headers.get("Accept-Encoding", ""),
            self.headers.get("Accept"),
        )
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
        self._write((first,) if head else itertools.chain((first, response.body), response.more))

    def end_headers(self) -> None:
        # Every response, errors included, carries the web config's headers; writing starts the clock.
        # The head stays buffered: _send writes it with the body.
        for name, value in self.policy.security.headers:
            self.send_header(name, value)
        self.server.set_phase(self.conn, Phase.WRITE, self.policy.web.write_timeout)
        self._headers_buffer.append(b"\r\n")

    def _write(self, parts: Iterable[bytes]) -> None:
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


def error_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return str(exc) or type(exc).__name__


__all__ = ["MAX_BODY", "MAX_HEADERS", "MAX_HEADER_BYTES", "MAX_REQUEST_LINE", "WRITE_CHUNK", "Handler", "error_reason"]
