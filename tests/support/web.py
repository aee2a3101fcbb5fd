"""A real listener on loopback with the web config under test: raw requests, basic auth, TLS."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import bcrypt
import pytest
from prometheus_client import CollectorRegistry

from avepoint_simulator import Simulator
from exporter.config import web as webconfig
from exporter.config.web import WebSecurity
from exporter.exposition.telemetry import Telemetry
from exporter.refresh import Refresher
from exporter.upstream import Client
from exporter.web import App, Server, serve_in_thread
from tests.support.harness import make_config
from tests.support.pki import Pki, bcrypt_hash

ALICE = ("alice", "wonderland")


def security(
    pki: Pki,
    *,
    tls: dict[str, str] | None = None,
    users: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> WebSecurity:
    data: dict[str, Any] = {}
    if tls is not None:
        data["tls_server_config"] = {"cert_file": "server.pem", "key_file": "server.key", **tls}
    if users:
        data["basic_auth_users"] = {name: bcrypt_hash(password) for name, password in users.items()}
    if headers:
        data["http_server_config"] = {"headers": headers}
    return webconfig.from_mapping(data, pki.ca.parent)


@contextlib.contextmanager
def serving(sim: Simulator, sec: WebSecurity | None = None, **web: object) -> Iterator[Server]:
    cfg = make_config(sim, web=web)
    registry = CollectorRegistry()
    telemetry = Telemetry(registry)
    refresher = Refresher(cfg, Client(cfg.api, cfg.auth, observe=telemetry.observe_request))
    server = Server(("127.0.0.1", 0), App(lambda: refresher, registry, telemetry), cfg.web, sec)
    serve_in_thread(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        refresher.close()


def address(server: Server) -> tuple[str, int]:
    host, port = server.server_address[:2]
    return str(host), int(port)


def raw(server: Server, data: bytes, timeout: float = 5.0) -> bytes:
    """Send bytes as they are and read until the server closes."""
    with socket.create_connection(address(server), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        with contextlib.suppress(ConnectionResetError):
            while chunk := s.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


def count_bcrypt(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls[0] += 1
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    return calls
