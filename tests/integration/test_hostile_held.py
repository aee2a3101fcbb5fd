"""Attacks the exporter already held against, kept as tests so that they keep holding (SECURITY.md's matrix)."""

from __future__ import annotations

import contextlib
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from avepoint_simulator import FleetSpec, Simulator
from exporter.errors import HTTPStatusError, ResponseFormatError
from exporter.refresh import last_success
from exporter.upstream import Client
from tests.support import ROOT
from tests.support.faultproxy import FaultProxy, Respond
from tests.support.harness import make_config
from tests.support.pki import Pki
from tests.support.web import address, raw, security, serving


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=3, seed=11)) as simulator:
        yield simulator


# --- clients ----------------------------------------------------------------------------------------

TRAVERSALS = (
    "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2f..%2fetc%2fpasswd",
    "//etc/passwd",
    "/metrics/../../etc/passwd",
    "/static/../../pyproject.toml",
    "http://127.0.0.1/../../etc/passwd",
)


@pytest.mark.parametrize("target", TRAVERSALS)
def test_no_path_reaches_a_file(sim: Simulator, target: str) -> None:
    with serving(sim) as server:
        answer = raw(server, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    status = answer.split(b" ", 2)[1]
    assert status in (b"400", b"404"), answer[:200]
    assert b"root:" not in answer
    assert b"[project]" not in answer


def test_a_thousand_connections_at_once_leave_the_server_serving(sim: Simulator) -> None:
    """Every connection gets an answer (200, or 503 past web.max_connections) or is closed; none hangs."""
    with serving(sim, max_connections=32) as server:
        requests.get(server.url + "/metrics", timeout=10).raise_for_status()  # warm: the cycle is done
        socks: list[socket.socket] = []
        try:
            for _ in range(1000):
                s = socket.create_connection(address(server), timeout=5)
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                s.setblocking(False)
                socks.append(s)
            answers: dict[socket.socket, bytes] = {s: b"" for s in socks}
            # epoll, not select(): descriptors past 1024 are out of select's range.
            with selectors.DefaultSelector() as selector:
                for s in socks:
                    selector.register(s, selectors.EVENT_READ)
                deadline = time.monotonic() + 60
                while selector.get_map() and time.monotonic() < deadline:
                    for key, _ in selector.select(0.5):
                        s = typing.cast(socket.socket, key.fileobj)
                        try:
                            chunk = s.recv(65536)
                        except BlockingIOError:
                            continue
                        except ConnectionResetError:
                            chunk = b""
                        if chunk:
                            answers[s] += chunk
                        else:
                            selector.unregister(s)
                left = len(selector.get_map())
            assert not left, f"{left} connections still open after 60 s"
            statuses = [a.split(b" ", 2)[1] if a else b"closed" for a in answers.values()]
            assert set(statuses) <= {b"200", b"503", b"closed"}, set(statuses)
            assert statuses.count(b"200") >= 32
        finally:
            for s in socks:
                s.close()
        started = time.monotonic()
        assert requests.get(server.url + "/metrics", timeout=10).status_code == 200
        assert time.monotonic() - started < 5


def _tls11_client() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def _handshake(host: str, port: int, context: ssl.SSLContext) -> str | None:
    with socket.create_connection((host, port), timeout=5) as s, context.wrap_socket(s) as tls:
        return tls.version()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_a_tls_downgrade_to_1_1_is_refused(pki: Pki, sim: Simulator, tmp_path: Path) -> None:
    # First prove that this client can speak TLS 1.1 at all, against a server that allows it: otherwise a
    # refusal below would say nothing about the exporter.
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    permissive.minimum_version = ssl.TLSVersion.TLSv1
    permissive.set_ciphers("DEFAULT:@SECLEVEL=0")
    permissive.load_cert_chain(pki.server.cert, pki.server.key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept_one() -> None:
        with contextlib.suppress(OSError), listener:
            conn, _ = listener.accept()
            with permissive.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)

    thread = threading.Thread(target=accept_one, daemon=True)
    thread.start()
    try:
        capable = _handshake("127.0.0.1", port, _tls11_client()) == "TLSv1.1"
    except ssl.SSLError:
        capable = False
    thread.join(timeout=5)
    if not capable:
        pytest.skip("this OpenSSL cannot negotiate TLS 1.1 even with a permissive server")
    with serving(sim, security(pki, tls={})) as server:
        host, port = address(server)
        with pytest.raises(ssl.SSLError):
            _handshake(host, port, _tls11_client())
        assert requests.get(server.url + "/-/healthy", verify=str(pki.ca), timeout=5).status_code == 200


# --- the upstream -----------------------------------------------------------------------------------


def test_a_redirect_to_another_host_is_not_followed(sim: Simulator) -> None:
    """The bearer token goes with every request: a 302 elsewhere is an error, and elsewhere sees nothing."""
    with FaultProxy(sim.base_url) as elsewhere, FaultProxy(sim.base_url) as proxy:
        proxy.add("/partner/customers", Respond(302, b"", headers=(("Location", elsewhere.url + "/steal"),)))
        cfg = make_config(sim, api={"base_url": proxy.url})
        client = Client(cfg.api, cfg.auth, sleep=lambda s: None)
        with pytest.raises(HTTPStatusError) as raised:
            client.customers()
        assert raised.value.status == 302
        assert not elsewhere.arrivals


def test_a_next_link_to_another_host_is_not_followed(sim: Simulator) -> None:
    with FaultProxy(sim.base_url) as elsewhere, FaultProxy(sim.base_url) as proxy:
        page = f'{{"value": [], "@odata.nextLink": "{elsewhere.url}/partner/customers?page=2"}}'.encode()
        proxy.add("/partner/customers$", Respond(200, page))
        cfg = make_config(sim, api={"base_url": proxy.url})
        client = Client(cfg.api, cfg.auth, sleep=lambda s: None)
        with pytest.raises(ResponseFormatError, match="another host"):
            client.customers()
        assert not elsewhere.arrivals


# --- the state file ---------------------------------------------------------------------------------

# Saves as fast as it can, a new generation each time, until killed.
SAVING_FOREVER = """
import sys
from exporter.refresh import last_success
print("saving", flush=True)
generation = 0
while True:
    generation += 1
    last_success.save(sys.argv[1], {("c%d" % i, "t", "m"): (float(generation), 1.7e9) for i in range(20000)})
"""


def test_kill_9_during_state_writes_never_leaves_half_a_file(tmp_path: Path) -> None:
    """The state file is replaced by rename: after any kill it holds one whole generation, never a mix."""
    path = tmp_path / "state.json"
    assert last_success.save(str(path), {(f"c{i}", "t", "m"): (0.0, 1.7e9) for i in range(20000)})  # generation 0
    for delay in (0.05, 0.13, 0.21, 0.34, 0.55):
        proc = subprocess.Popen([sys.executable, "-c", SAVING_FOREVER, str(path)], stdout=subprocess.PIPE, cwd=ROOT)
        try:
            assert proc.stdout is not None and proc.stdout.readline() == b"saving\n"
            time.sleep(delay)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        loaded = last_success.load(str(path), 1.8e9)
        assert loaded.readable and loaded.skipped == 0
        generations = {entry[0] for entry in loaded.entries.values()}
        assert len(loaded.entries) == 20000 and len(generations) == 1, generations
