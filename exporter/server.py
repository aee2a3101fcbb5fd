"""HTTP: /metrics, the landing page, /-/healthy, /-/ready and /-/reload."""

from __future__ import annotations

import contextlib
import gzip
import html
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from exporter import __version__
from exporter.errors import ConfigError
from exporter.refresh import Refresher
from exporter.render import CONTENT_TYPE, ExpositionCache
from exporter.telemetry import Telemetry

log = logging.getLogger(__name__)

# Prometheus sends its scrape timeout; answer this much before it so the answer still arrives.
DEADLINE_MARGIN = 0.5
# Socket timeout per client: a silent or trickling client cannot hold a thread for long.
CLIENT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class App:
    """What the HTTP handler serves; knows nothing about sockets, so tests can call it directly."""

    def __init__(
        self,
        refresher: Callable[[], Refresher],
        live: CollectorRegistry,
        telemetry: Telemetry,
        *,
        reload: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._refresher = refresher
        self._live, self._telemetry = live, telemetry
        self._reload = reload
        self._clock = clock
        self._cache = ExpositionCache()
        self.started = time.time()

    def metrics(self, scrape_timeout: str | None, accept_encoding: str) -> Response:
        start = self._clock()
        refresher = self._refresher()
        wait = refresher.snapshot().config.cache.max_scrape_wait
        if scrape_timeout:
            # A malformed header must not break scrapes: the configured cap applies then.
            with contextlib.suppress(ValueError):
                wait = min(wait, max(float(scrape_timeout) - DEADLINE_MARGIN, 0.0))
        snap = refresher.collect(wait)
        exposition = self._cache.get(snap)
        self._telemetry.scrape_duration.set(self._clock() - start)
        live = generate_latest(self._live)
        if "gzip" in accept_encoding.lower():
            # Two gzip members back to back are one valid gzip stream (RFC 1952), so the large
            # data part is compressed once per data change and only the small live part per scrape.
            return Response(
                200, CONTENT_TYPE, exposition.gzipped + gzip.compress(live, 6), (("Content-Encoding", "gzip"),)
            )
        return Response(200, CONTENT_TYPE, exposition.body + live)

    def landing(self) -> Response:
        snap = self._refresher().snapshot()
        jobs = sum(len(c.jobs) for c in snap.customers)
        body = LANDING.format(
            version=html.escape(__version__),
            customers=len(snap.customers),
            jobs=jobs,
            up="yes" if snap.up else "no",
        )
        return Response(200, "text/html; charset=utf-8", body.encode())

    def ready(self) -> Response:
        if self._refresher().snapshot().refreshed:
            return Response(200, "text/plain; charset=utf-8", b"ready\n")
        return Response(503, "text/plain; charset=utf-8", b"not ready: first refresh not attempted yet\n")

    def reload(self) -> Response:
        if self._reload is None:
            return Response(404, "text/plain; charset=utf-8", b"reload is not available in this mode\n")
        try:
            self._reload()
        except ConfigError as exc:
            return Response(500, "text/plain; charset=utf-8", f"reload failed, old config kept: {exc}\n".encode())
        return Response(200, "text/plain; charset=utf-8", b"config reloaded\n")


LANDING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AvePoint Backup Exporter</title></head>
<body>
<h1>AvePoint Backup Exporter</h1>
<p>Version {version}. API reachable: {up}. Customers: {customers}. Jobs: {jobs}.</p>
<ul>
<li><a href="metrics">/metrics</a></li>
<li><a href="-/healthy">/-/healthy</a></li>
<li><a href="-/ready">/-/ready</a></li>
</ul>
</body></html>
"""

TEXT = "text/plain; charset=utf-8"


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"
    timeout = CLIENT_TIMEOUT
    server_version = f"avepoint-backup-exporter/{__version__}"
    sys_version = ""

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        # Drain a small body so keep-alive stays in step; refuse large ones.
        length = int(self.headers.get("Content-Length") or 0)
        if length > 4096:
            self._send(Response(413, TEXT, b"request body too large\n"))
            return
        if length:
            self.rfile.read(length)
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
            elif path == "/":
                response = app.landing()
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
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
        log.debug("http request", extra={"client": self.client_address[0], "request": format % args})


ROUTES = frozenset({"/metrics", "/", "/-/healthy", "/-/ready", "/-/reload"})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], app: App) -> None:
        host = address[0]
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.app = app
        super().__init__(address, Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-request is routine, not a stack trace on stderr.
        log.debug("client connection error", exc_info=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = str(host)
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"


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


__all__ = ["App", "Server", "parse_listen_address", "serve_in_thread"]
