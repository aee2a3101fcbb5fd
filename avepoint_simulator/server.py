"""The `Simulator`: the API on a loopback socket, its HTTP server and handler threads, start and stop."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from avepoint_simulator.answers import Response, error_response, phrase
from avepoint_simulator.api import Api


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Simulator, family: int) -> None:
        self.address_family = family
        self.sim = sim
        self.conn_lock = threading.Lock()
        # Handler threads by their socket: stop() shuts the sockets down to wake threads that
        # wait for the next request on a kept-alive connection, then joins the threads.
        self.active: dict[socket.socket, threading.Thread] = {}
        self.connections_accepted = 0
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall for
        # seconds on machines without DNS; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.socket.getsockname()[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"avepoint-sim-{self.server_port}-conn",
            daemon=True,
        )
        if isinstance(request, socket.socket):
            with self.conn_lock:
                self.active[request] = thread
                self.connections_accepted += 1
        thread.start()

    def process_request_thread(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            if isinstance(request, socket.socket):
                with self.conn_lock:
                    self.active.pop(request, None)

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        # Clients that gave up (a timeout fault, a benchmark cut short) hang up mid-answer.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for the client's pooled session
    server_version = "avepoint-simulator"
    # Headers and body are two writes; without this, Nagle plus delayed ACKs add ~40 ms.
    disable_nagle_algorithm = True
    timeout = 120  # an abandoned keep-alive connection frees its thread eventually
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def version_string(self) -> str:
        return "avepoint-simulator"

    def log_message(self, fmt: str, *args: Any) -> None:
        # The request log lives in Simulator.request_log; stderr stays quiet for the demo.
        return

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Malformed requests: answer in the same JSON shape, with a request id, like any other.
        sim = self.server.sim
        rid = str(uuid.uuid4())
        response = error_response(rid, code, message or phrase(code), sim.faults, ("request-id", rid))
        self.close_connection = True
        self._write(response)

    def _serve(self) -> None:
        sim = self.server.sim
        length_header = self.headers.get("Content-Length")
        body = b""
        if length_header:
            try:
                length = int(length_header)
            except ValueError:
                length = -1
            if not 0 <= length <= 1_000_000:
                self.send_error(400, "invalid Content-Length")
                return
            body = self.rfile.read(length)
        response = sim._dispatch(
            method=self.command,
            raw_path=self.path,
            host=self.headers.get("Host"),
            authorization=self.headers.get("Authorization"),
            content_type=self.headers.get("Content-Type"),
            body=body,
        )
        if response is None:  # the simulator is stopping: drop the connection unanswered
            self.close_connection = True
            return
        self._write(response)

    def _write(self, response: Response) -> None:
        sim = self.server.sim
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                self.send_header(name, value)
            if sim._stopping.is_set():
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(response.body)
        except OSError:
            self.close_connection = True


class Simulator(Api):
    """The AvePoint partner API, legacy and v3 side by side, for one synthetic fleet, on loopback over real HTTP.

    Both families serve the same fleet: a v3 row is the legacy row with codes for names.

    Everything served is a pure function of the fleet spec, the clock, the pins and the
    faults, so two simulators with the same seed and clock answer byte for byte the same.

    Each base class adds one job: Scenario (scenario.py) the fleet and what a test scripts in it,
    Api (api.py) the answers to requests; this class the server they are served by.
    """

    _server: _Server | None = None
    _thread: threading.Thread | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0: any free port), serve in a daemon thread, return base_url."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        bare = host.strip("[]")
        family = socket.AF_INET6 if ":" in bare else socket.AF_INET
        self._stopping.clear()
        server = _Server((bare, port), self, family)
        shown = f"[{bare}]" if family == socket.AF_INET6 else bare
        self._base_url = f"http://{shown}:{server.server_port}"
        self._server = server
        # A short poll interval is what lets stop() return quickly.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"avepoint-sim-{server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self._base_url

    def stop(self) -> None:
        """Close the listening socket and end every handler thread, sleeping ones included."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes every fault sleep
        server.shutdown()
        server.server_close()
        with server.conn_lock:
            active = list(server.active.items())
        for conn, _ in active:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 1.0
        for _, handler in active:
            handler.join(max(0.0, deadline - time.monotonic()))
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._server = None
        self._thread = None

    def __enter__(self) -> Simulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted since start (keep-alive shows as few connections)."""
        server = self._server
        return server.connections_accepted if server is not None else 0
