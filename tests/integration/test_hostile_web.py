"""Hostile HTTP clients on loopback: password floods, clients that never read, desync headers, Nagle stalls."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import bcrypt
import pytest
import requests

from avepoint_simulator import FleetSpec, Simulator
from exporter import config
from exporter import shard as sharding
from exporter.config import web as webconfig
from exporter.config.web import WebSecurity
from exporter.runtime import Runtime
from exporter.web import Server
from exporter.web.app import Response
from exporter.web.basic_auth import BasicAuth, Verdict
from exporter.web.connections import client_key
from tests.support import free_port
from tests.support.harness import SCRIPT, stop, wait_for, write_config
from tests.support.web import address, count_bcrypt, serving

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


def test_when_full_connections_that_never_authenticated_go_first(sim: Simulator) -> None:
    hashed = bcrypt.hashpw(ALICE[1].encode(), bcrypt.gensalt(rounds=4)).decode()
    sec = webconfig.from_mapping({"basic_auth_users": {ALICE[0]: hashed}}, Path("."))
    good = f"GET /-/ready HTTP/1.1\r\nHost: x\r\nAuthorization: {_basic(*ALICE)}\r\n\r\n".encode()
    wrong = f"GET /-/ready HTTP/1.1\r\nHost: x\r\nAuthorization: {_basic('alice', 'x')}\r\n\r\n".encode()
    with (
        serving(sim, sec, max_connections=4) as server,
        socket.create_connection(address(server), timeout=5) as scraper,
    ):
        scraper.sendall(good)
        assert _read_response(scraper).startswith(b"HTTP/1.1 ")  # the oldest idle connection from here on
        others = []
        try:
            for _ in range(4):  # the last one makes the server evict
                time.sleep(0.05)
                s = socket.socket()
                s.settimeout(5)
                s.bind((ATTACKER, 0))
                s.connect(address(server))
                s.sendall(wrong)
                others.append(s)
                assert _read_response(s).startswith(b"HTTP/1.1 401")
            scraper.sendall(good)
            assert _read_response(scraper).startswith(b"HTTP/1.1 "), "the authenticated scraper was evicted"
        finally:
            for s in others:
                s.close()


def test_per_client_limits_count_an_ipv6_host_by_its_64() -> None:
    assert client_key(("2001:db8:1:2::1", 1, 0, 0)) == client_key(("2001:db8:1:2:ffff::9", 1, 0, 0))
    assert client_key(("2001:db8:1:2::1", 1, 0, 0)) != client_key(("2001:db8:1:3::1", 1, 0, 0))
    assert client_key(("::ffff:10.0.0.1", 1, 0, 0)) == client_key(("10.0.0.1", 1)) == "10.0.0.1"


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


# --- E: POST /-/reload off by default; reloads cost only what they change -----------------------------------


def test_reload_endpoint_is_off_by_default_and_sighup_still_reloads(sim: Simulator, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config.yml", sim)
    port = free_port()
    proc = subprocess.Popen(
        [SCRIPT, "--config.file", str(cfg), "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/-/ready", proc)
        refused = requests.post(url + "/-/reload", timeout=10)
        assert refused.status_code == 403 and refused.text == "Lifecycle API is not enabled.\n"
        cfg.write_text(cfg.read_text() + "bogus: 1\n")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        body = ""
        while "avepoint_config_last_reload_successful 0.0" not in body and time.monotonic() < deadline:
            time.sleep(0.1)
            body = requests.get(url + "/metrics", timeout=10).text
        assert "avepoint_config_last_reload_successful 0.0" in body
    finally:
        stop(proc)


@contextlib.contextmanager
def runtime_on(path: Path) -> Iterator[Runtime]:
    runtime = Runtime(config.load(path, {}), sharding.Shard())
    try:
        first = runtime.refresher.trigger()
        assert first is not None
        first.result(timeout=30)
        yield runtime
    finally:
        runtime.refresher.close()


def settle(runtime: Runtime) -> None:
    """What the next scrape would do: start a refresh if anything is due, and let it finish."""
    cycle = runtime.refresher.trigger()
    if cycle is not None:
        cycle.result(timeout=30)


def by_route(sim: Simulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for (route, _), n in sim.requests.items():
        counts[route] = counts.get(route, 0) + n
    return counts


def test_reloads_that_change_nothing_cost_no_upstream_request(sim: Simulator, tmp_path: Path) -> None:
    path = write_config(tmp_path / "config.yml", sim)
    with runtime_on(path) as runtime:
        client = runtime.refresher._client
        generation = runtime.refresher.snapshot().generation
        sim.reset_counters()
        for _ in range(1000):
            runtime.reload(str(path), {})
            runtime.refresher.snapshot_within(0.0)  # a scrape between reloads
        settle(runtime)
        print(f"upstream requests for 1,000 reloads that change nothing: {sum(sim.requests.values())}")
        assert by_route(sim) == {}
        assert runtime.refresher._client is client, "the client and its token are kept"
        assert runtime.refresher.snapshot().generation == generation, "nothing to re-encode either"


JOBS = "/partner/customers/{id}/jobs"
SELECTED = "/partner/customers/{id}/jobs/jobType/{jobType}/jobModule/{jobModule}"


@pytest.mark.parametrize(
    ("extra", "new_client", "expected"),
    [
        # Rendering only: the same client and token, no request.
        ('jobs:\n  expected_interval: 2d\n  status_outcomes: {"Finished": failed}\n', False, {}),
        # New client settings: a new client, which gets its token when it next needs one; the data stays fresh.
        ("api:\n  timeout: 11s\n", True, {}),
        # Another customer filter: the listing again, nothing else.
        ("customers:\n  exclude: [FIRST]\n", False, {"/partner/customers": 1}),
        # Another job selection: every customer's jobs again, with the token held.
        ('jobs:\n  select: [{job_type: "Exchange Online", job_module: Mailbox}]\n', False, {SELECTED: 3}),
        # Another endpoint group: that group only, with a token for the scope it needs.
        ("endpoints:\n  services: true\n", True, {"/connect/token": 1, "/partner/services": 1}),
    ],
    ids=["render", "client", "customers", "select", "services"],
)
def test_a_reload_refreshes_only_what_it_changes(
    sim: Simulator, tmp_path: Path, extra: str, new_client: bool, expected: dict[str, int]
) -> None:
    path = write_config(tmp_path / "config.yml", sim)
    with runtime_on(path) as runtime:
        client = runtime.refresher._client
        before = runtime.refresher.snapshot()
        sim.reset_counters()
        text = path.read_text()
        # The file has an api section already, and YAML allows no repeated key: merge into it.
        text = text.replace("api:\n", extra, 1) if extra.startswith("api:\n") else text + extra
        path.write_text(text.replace("FIRST", sim.customer_ids[0]))
        runtime.reload(str(path), {})
        settle(runtime)
        assert by_route(sim) == expected
        assert (runtime.refresher._client is not client) == new_client
        after = runtime.refresher.snapshot()
        if extra.startswith("jobs:\n  expected_interval"):
            # The new mapping applies to the jobs held, without fetching them again.
            finished = [j for cs in after.customers for j in cs.jobs if j.status == "Finished" and j.job_id]
            assert finished and all(j.outcome.value == "failed" for j in finished)
            assert any(
                j.outcome.value == "success" for cs in before.customers for j in cs.jobs if j.status == "Finished"
            )
        if extra.startswith("customers"):
            assert sim.customer_ids[0] not in {cs.customer.id for cs in after.customers}


def test_a_reload_to_another_upstream_refreshes_everything(sim: Simulator, tmp_path: Path) -> None:
    path = write_config(tmp_path / "config.yml", sim)
    with runtime_on(path) as runtime, Simulator(FleetSpec(customers=2, seed=9)) as other:
        sim.reset_counters()
        write_config(path, other)
        runtime.reload(str(path), {})
        settle(runtime)
        assert by_route(sim) == {}
        assert by_route(other) == {"/connect/token": 1, "/partner/customers": 1, JOBS: 2}
        assert {cs.customer.id for cs in runtime.refresher.snapshot().customers} == set(other.customer_ids)
