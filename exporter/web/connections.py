"""The connection table: each open connection's phase and deadline, and whom to close when every slot is taken."""

from __future__ import annotations

import contextlib
import enum
import ipaddress
import logging
import socket
import ssl
import threading
import time
import typing
from collections import Counter
from dataclasses import dataclass

log = logging.getLogger(__name__)

# A connection whose client has read nothing of its response for this long is the first to be closed when
# every slot is taken.
STALLED_WRITE = 1.0


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


class Connections:
    """The open connections, shared by the accept loop, the housekeeping and every connection's thread."""

    def __init__(self) -> None:
        self._conns: dict[int, Connection] = {}
        self._conns_lock = threading.Lock()

    def __len__(self) -> int:
        with self._conns_lock:
            return len(self._conns)

    def admit(self, conn: Connection, max_connections: int, auth: bool, now: float) -> bool:
        """Register `conn`, closing another to make room when full; False: every one is busy, `conn` is not taken."""
        with self._conns_lock:
            if len(self._conns) >= max_connections:
                victim = self._victim_locked(auth, now)
                if victim is None:
                    return False
                self._cut(victim)
            self._conns[id(conn)] = conn
        return True

    def _victim_locked(self, auth: bool, now: float) -> Connection | None:
        """The connection to close for a new one, or None when every one is busy with a request.

        First those that never passed basic auth (idle, sending a request, or waiting for a password
        check), so that guessers cannot crowd out Prometheus; then those writing a response that their
        client has not read for STALLED_WRITE (else clients that never read would hold every slot until
        web.write_timeout); then idle ones, then ones sending a request. Within a rank, from the address
        that holds the most connections, then the oldest.
        """
        per_client = Counter(c.client for c in self._conns.values())

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

    def wrap(self, conn: Connection, context: ssl.SSLContext) -> ssl.SSLSocket | None:
        """Put TLS on `conn`'s socket, the handshake still to do; None when it was cut while waiting for its thread."""
        with self._conns_lock:
            if id(conn) not in self._conns:
                return None
            tls = context.wrap_socket(conn.sock, server_side=True, do_handshake_on_connect=False)
            conn.sock = tls
        return tls

    def set_phase(self, conn: Connection, phase: Phase, timeout: float | None) -> None:
        now = time.monotonic()
        with self._conns_lock:
            conn.phase, conn.since, conn.progress = phase, now, now
            conn.deadline = None if timeout is None else now + timeout

    def cut_expired(self) -> None:
        """Close the connections past their phase's deadline."""
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

    def forget(self, conn: Connection) -> None:
        with self._conns_lock:
            self._conns.pop(id(conn), None)

    def cut_all(self) -> None:
        with self._conns_lock:
            for conn in list(self._conns.values()):
                self._cut(conn)


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


__all__ = ["STALLED_WRITE", "Connection", "Connections", "Phase", "client_key"]
