"""The listener: accepts, admits or refuses a connection, runs its TLS handshake and its thread; reloads its policy."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
import typing
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

from exporter.config import WebConfig, WebSecurity
from exporter.errors import ConfigError
from exporter.web.app import App
from exporter.web.basic_auth import BasicAuth
from exporter.web.connections import Connection, Connections, Phase, client_key
from exporter.web.http import Handler, error_reason

log = logging.getLogger(__name__)


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
    `Connections._victim_locked`); when all are busy with requests, the new connection is refused (a 503 for
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
        self._conns = Connections()
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
        return len(self._conns)

    def process_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: typing.Any) -> None:
        sock = typing.cast(socket.socket, request)
        policy = self.policy
        now = time.monotonic()
        conn = Connection(sock, Phase.READ, now + policy.web.read_header_timeout, now, client_key(client_address))
        if not self._conns.admit(conn, policy.web.max_connections, policy.auth.enabled, now):
            self._refuse(sock, policy)
            return
        thread = threading.Thread(target=self._serve_connection, args=(conn, client_address), daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no more threads: the connection goes, the server stays
            self._conns.forget(conn)
            self.shutdown_request(sock)

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
            self._conns.forget(conn)
            self.shutdown_request(conn.sock)

    def _handshake(self, conn: Connection, context: ssl.SSLContext, client_address: typing.Any) -> bool:
        conn.sock.settimeout(self.policy.web.read_header_timeout)
        tls = self._conns.wrap(conn, context)
        if tls is None:
            return False  # cut while waiting for its thread
        try:
            tls.do_handshake()
        except OSError as exc:
            # Scanners, health checks that speak plain HTTP, clients without the right certificate:
            # routine, and nothing for an operator's error log.
            log.debug("TLS handshake failed", extra={"client": client_address[0], "error": error_reason(exc)})
            if isinstance(exc, ssl.SSLError) and exc.reason == "HTTP_REQUEST":
                _answer_plain_http(tls)
            return False
        return True

    def set_phase(self, conn: Connection, phase: Phase, timeout: float | None) -> None:
        self._conns.set_phase(conn, phase, timeout)

    def service_actions(self) -> None:
        super().service_actions()
        self._conns.cut_expired()

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
        self._conns.cut_all()

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-request is routine, not a stack trace on stderr.
        log.debug("client connection error", exc_info=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = str(host)
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{shown}:{port}"


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


__all__ = ["Policy", "Server", "parse_listen_address", "serve_in_thread"]
