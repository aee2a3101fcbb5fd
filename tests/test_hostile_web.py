"""Hostile HTTP clients on loopback: password floods, clients that never read, desync headers, Nagle stalls."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import bcrypt
import pytest
import requests

from exporter import webconfig
from exporter.basic_auth import BasicAuth, Verdict
from exporter.server import Response, Server
from exporter.simulator import FleetSpec, Simulator
from exporter.webconfig import WebSecurity
from tests.test_web_security import address, count_bcrypt, serving

ALICE = ("alice", "wonderland")
ATTACKER = "127.0.0.2"  # a source address of its own, as a host elsewhere would have


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=3, seed=7)) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def costly_users() -> WebSecurity:
    # Cost 10, as `htpasswd -B` makes by default: about 80 ms a check, which is what a flood exploits.
    hashed = bcrypt.hashpw(ALICE[1].encode(), bcrypt.gensalt(rounds=10)).decode()
    return webconfig.from_mapping({"basic_auth_users": {ALICE[0]: hashed}}, Path("."))


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _read_response(s: socket.socket) -> bytes:
    """One response (head and Content-Length body); b'' when the server closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            return b""
        body += chunk
    return head


@contextlib.contextmanager
def flood(server: Server, connections: int, password: Callable[[], str]) -> Iterator[list[int]]:
    """Keep-alive connections from another address sending wrong passwords as fast as they are answered."""
    stop = threading.Event()
    sent = [0]

    def attack() -> None:
        while not stop.is_set():
            try:
                with socket.socket() as s:
                    s.settimeout(2)
                    s.bind((ATTACKER, 0))
                    s.connect(address(server))
                    while not stop.is_set():
                        request = (
                            f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: {_basic('alice', password())}\r\n\r\n"
                        )
                        s.sendall(request.encode())
                        sent[0] += 1
                        if not _read_response(s):
                            break
            except OSError:
                time.sleep(0.01)

    threads = [threading.Thread(target=attack, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    try:
        yield sent
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)


def success_rate(url: str, seconds: float, interval: float = 0.2, timeout: float = 2.0) -> float:
    """Scrapes as Prometheus makes them (one kept-alive connection, a timeout) from 127.0.0.1."""
    ok = total = 0
    deadline = time.monotonic() + seconds
    with requests.Session() as session:
        while time.monotonic() < deadline:
            total += 1
            with contextlib.suppress(requests.RequestException):
                ok += session.get(url + "/metrics", auth=ALICE, timeout=timeout).status_code == 200
            time.sleep(interval)
    return ok / total


# --- A: a wrong-password flood must not starve the right password -------------------------------------


@pytest.mark.parametrize("passwords", ["repeated", "varied"])
def test_wrong_password_flood_does_not_lock_out_the_scraper(
    sim: Simulator, costly_users: WebSecurity, passwords: str
) -> None:
    guess: Callable[[], str] = (lambda: "wrong") if passwords == "repeated" else (lambda: os.urandom(8).hex())
    with serving(sim, costly_users) as server, flood(server, 80, guess) as sent:
        time.sleep(1.0)  # every slot taken, a queue of checks behind the bcrypt lock
        rate = success_rate(server.url, 6.0)
    print(f"legitimate success rate during a {passwords}-password flood: {rate:.0%} ({sent[0]} attempts)")
    assert sent[0] > 100, "the flood did not run"
    assert rate >= 0.9


def test_guesses_are_rationed_per_address(monkeypatch: pytest.MonkeyPatch) -> None:
    hashed = bcrypt.hashpw(b"wonderland", bcrypt.gensalt(rounds=4)).decode()
    sec = webconfig.from_mapping({"basic_auth_users": {"alice": hashed}}, Path("."))
    auth = BasicAuth(sec.users, sec.dummy_hash, failures_per_minute=3)
    calls = count_bcrypt(monkeypatch)
    for _ in range(5):
        assert auth.verdict(_basic("alice", "stale"), "10.0.0.1") is Verdict.DENIED
    assert calls[0] == 1, "a wrong password already checked is answered without bcrypt"
    verdicts = [auth.verdict(_basic("alice", f"guess{i}"), "10.0.0.1") for i in range(4)]
    assert verdicts == [Verdict.DENIED, Verdict.DENIED, Verdict.THROTTLED, Verdict.THROTTLED]
    assert calls[0] == 3 and 50 <= auth.retry_after("10.0.0.1") <= 60
    # Another address is not affected, and a cached right password passes even on the throttled one.
    assert auth.verdict(_basic(*ALICE), "10.0.0.2") is Verdict.OK
    assert auth.verdict(_basic(*ALICE), "10.0.0.1") is Verdict.OK


# --- B: clients that never read must not hold every slot -----------------------------------------------


def test_clients_that_never_read_do_not_lock_out_scrapes(sim: Simulator) -> None:
    # Larger than any socket buffers: the server's writes block until the client reads, which it never does.
    big = b"# " + b"x" * (16 << 20) + b"\n"
    with serving(sim) as server:
        server.app.metrics = lambda *args: Response(200, "text/plain", big)  # type: ignore[method-assign]
        stuck = []
        try:
            for _ in range(70):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.bind((ATTACKER, 0))
                s.connect(address(server))
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                stuck.append(s)
            time.sleep(1.5)  # every slot writing, none making progress
            results: list[tuple[object, int]] = []
            for _ in range(3):
                try:
                    response = requests.get(server.url + "/metrics", timeout=10)
                    results.append((response.status_code, len(response.content)))
                except requests.RequestException as exc:
                    results.append((type(exc).__name__, 0))
            print(f"scrapes during the non-reader attack: {results}")
            assert results == [(200, len(big))] * 3
        finally:
            for s in stuck:
                s.close()


# --- D: no Nagle stall between requests on a kept-alive connection ---------------------------------------


def test_kept_alive_requests_are_not_delayed(sim: Simulator) -> None:
    with serving(sim) as server, socket.create_connection(address(server)) as s:
        s.settimeout(5)
        times = []
        for _ in range(20):
            started = time.perf_counter()
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_response(s).startswith(b"HTTP/1.1 200")
            times.append(time.perf_counter() - started)
    median = statistics.median(times)
    print(f"kept-alive /metrics: median {median * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")
    assert median < 0.010


# --- C: header lines that proxies and this server could read differently -----------------------------------

SMUGGLED = b"GET /-/ready HTTP/1.1\r\nHost: x\r\n\r\n"


def _exchange(server: Server, data: bytes) -> tuple[bytes, bool]:
    """Everything the server answers to `data`, and whether it closed the connection within 2 s."""
    chunks = []
    with socket.create_connection(address(server), timeout=2) as s:
        s.sendall(data)
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
            closed = True
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            closed = False
    return b"".join(chunks), closed


@pytest.mark.parametrize(
    "header",
    [
        b"Content-Length : %d\r\n" % len(SMUGGLED),  # whitespace before the colon (RFC 9112 5.1)
        b"Transfer-Encoding : chunked\r\n",
        b"X-Pad: a\r\n Transfer-Encoding: chunked\r\n",  # obs-fold (RFC 9112 5.2)
        b"X-Pad: a\r\n\tContent-Length: %d\r\n" % len(SMUGGLED),
        b"No colon here\r\n",
        b"Bad(Name): v\r\n",
        b"X-Pad: a\rb\r\n",  # a bare CR in a value
    ],
    ids=[
        "space-content-length",
        "space-transfer-encoding",
        "obs-fold-te",
        "obs-fold-tab-cl",
        "no-colon",
        "bad-name",
        "bare-cr",
    ],
)
def test_ambiguous_header_lines_are_refused_and_nothing_is_smuggled(sim: Simulator, header: bytes) -> None:
    with serving(sim) as server:
        answer, closed = _exchange(server, b"POST /-/healthy HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n" + SMUGGLED)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer[:200]
    assert answer.count(b"HTTP/1.1 ") == 1, "the body was served as a second request"
    assert b"Connection: close" in answer and closed
