"""TLS, mTLS, basic auth, extra headers, reload and request limits on a real loopback listener."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import select
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import requests

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, FleetSpec, Simulator
from exporter import config
from exporter import shard as sharding
from exporter.config import web as webconfig
from exporter.runtime import Runtime
from exporter.web import App, Server, serve_in_thread
from exporter.web.basic_auth import CHALLENGE, BasicAuth
from tests.support import free_port
from tests.support.harness import SCRIPT
from tests.support.pki import Pki, bcrypt_hash
from tests.support.web import ALICE, address, count_bcrypt, raw, security, serving

HEADERS = {
    "X-Frame-Options": "deny",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'",
}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=3, seed=7)) as simulator:
        yield simulator


def closed_by_server(s: socket.socket, within: float) -> bool:
    s.settimeout(within)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


# --- TLS ------------------------------------------------------------------------------------------


def test_tls_with_the_generated_ca(pki: Pki, sim: Simulator) -> None:
    with serving(sim, security(pki, tls={})) as server:
        assert server.url.startswith("https://127.0.0.1:")
        response = requests.get(server.url + "/metrics", verify=str(pki.ca), timeout=10)
        assert response.status_code == 200 and "avepoint_up 1.0" in response.text
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(server.url + "/-/healthy", verify=str(pki.ca2), timeout=10)  # not our CA


def test_plain_http_to_the_tls_port_fails_cleanly(pki: Pki, sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with serving(sim, security(pki, tls={})) as server:
        host, port = address(server)
        started = time.monotonic()
        try:
            answer = requests.get(f"http://{host}:{port}/metrics", timeout=5)
            assert answer.status_code == 400 and "HTTPS server" in answer.text
        except requests.ConnectionError:
            pass
        assert time.monotonic() - started < 3
        assert requests.get(server.url + "/-/healthy", verify=str(pki.ca), timeout=5).status_code == 200
        deadline = time.monotonic() + 3
        while server.connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.connections == 0  # no thread left behind
    ours = [r for r in caplog.records if r.name.startswith("exporter")]
    assert any(r.getMessage() == "TLS handshake failed" and r.levelno == logging.DEBUG for r in ours)
    assert not [r for r in ours if r.levelno >= logging.INFO or r.exc_info], "no error lines, no tracebacks"


def test_a_silent_client_blocks_no_one_and_is_cut_off(pki: Pki, sim: Simulator) -> None:
    with serving(sim, security(pki, tls={}), read_header_timeout=1) as server:
        silent = socket.create_connection(address(server))
        try:
            time.sleep(0.2)
            started = time.monotonic()
            assert requests.get(server.url + "/-/healthy", verify=str(pki.ca), timeout=5).status_code == 200
            assert time.monotonic() - started < 1.0
            assert closed_by_server(silent, within=3.0)
        finally:
            silent.close()


def test_mutual_tls(pki: Pki, sim: Simulator) -> None:
    tls = {"client_auth_type": "RequireAndVerifyClientCert", "client_ca_file": "client-ca.pem"}
    client = (str(pki.client.cert), str(pki.client.key))
    stranger = (str(pki.stranger.cert), str(pki.stranger.key))
    with serving(sim, security(pki, tls=tls)) as server:
        url = server.url + "/-/healthy"
        assert requests.get(url, verify=str(pki.ca), cert=client, timeout=5).status_code == 200
        with pytest.raises(requests.ConnectionError):
            requests.get(url, verify=str(pki.ca), timeout=5)
        with pytest.raises(requests.ConnectionError):
            requests.get(url, verify=str(pki.ca), cert=stranger, timeout=5)
    optional = {"client_auth_type": "VerifyClientCertIfGiven", "client_ca_file": "client-ca.pem"}
    with serving(sim, security(pki, tls=optional)) as server:
        url = server.url + "/-/healthy"
        assert requests.get(url, verify=str(pki.ca), timeout=5).status_code == 200
        assert requests.get(url, verify=str(pki.ca), cert=client, timeout=5).status_code == 200
        with pytest.raises(requests.ConnectionError):
            requests.get(url, verify=str(pki.ca), cert=stranger, timeout=5)


def _handshake(server: Server, ca: Path, version: ssl.TLSVersion) -> str | None:
    context = ssl.create_default_context(cafile=str(ca))
    context.minimum_version = context.maximum_version = version
    with (
        socket.create_connection(address(server), timeout=5) as s,
        context.wrap_socket(s, server_hostname="localhost") as tls,
    ):
        return tls.version()


def test_tls13_only_refuses_a_tls12_client(pki: Pki, sim: Simulator) -> None:
    with serving(sim, security(pki, tls={"min_version": "TLS13"})) as server:
        assert _handshake(server, pki.ca, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
        with pytest.raises(ssl.SSLError):
            _handshake(server, pki.ca, ssl.TLSVersion.TLSv1_2)
    with serving(sim, security(pki, tls={})) as server:
        assert _handshake(server, pki.ca, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"  # the default allows 1.2


# --- basic auth -------------------------------------------------------------------------------------


def test_basic_auth_on_every_page(pki: Pki, sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(sim, security(pki, users=dict([ALICE]))) as server:
        url = server.url
        calls = count_bcrypt(monkeypatch)
        ok = requests.get(url + "/metrics", auth=ALICE, timeout=10)
        assert ok.status_code == 200 and "avepoint_up" in ok.text
        assert calls[0] == 1
        assert requests.get(url + "/metrics", auth=ALICE, timeout=10).status_code == 200
        assert calls[0] == 1, "a repeated good password is remembered, not checked again"
        for auth in [("alice", "wrong"), ("mallory", "wonderland")]:
            before = calls[0]
            denied = requests.get(url + "/metrics", auth=auth, timeout=10)
            assert denied.status_code == 401
            assert denied.headers["WWW-Authenticate"] == 'Basic realm="avepoint-backup-exporter"' == CHALLENGE
            assert calls[0] == before + 1, f"{auth[0]}: unknown user and wrong password both pay bcrypt"
        for method, path in [("GET", "/"), ("GET", "/-/ready"), ("POST", "/-/reload"), ("GET", "/nope")]:
            response = requests.request(method, url + path, timeout=10)
            assert response.status_code == 401, path
        assert requests.head(url + "/metrics", timeout=10).status_code == 401
        bad = {"Authorization": "Basic !!notbase64!!"}
        assert requests.get(url + "/metrics", headers=bad, timeout=10).status_code == 401
        assert requests.get(url + "/nope", auth=ALICE, timeout=10).status_code == 404
        assert requests.get(url + "/-/healthy", timeout=10).status_code == 200  # open by default
    with serving(sim, security(pki, users=dict([ALICE])), open_health_check=False) as server:
        assert requests.get(server.url + "/-/healthy", timeout=10).status_code == 401
        assert requests.get(server.url + "/-/healthy", auth=ALICE, timeout=10).status_code == 200


def _header(user: str, password: str | bytes) -> str:
    secret = password if isinstance(password, bytes) else password.encode()
    return "Basic " + base64.b64encode(user.encode() + b":" + secret).decode()


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def test_unknown_user_costs_as_much_as_a_wrong_password(monkeypatch: pytest.MonkeyPatch) -> None:
    hashed = bcrypt.hashpw(b"wonderland", bcrypt.gensalt(rounds=8)).decode()
    sec = webconfig.from_mapping({"basic_auth_users": {"alice": hashed}}, Path("."))
    auth = BasicAuth(sec.users, sec.dummy_hash)
    # The fastest of a few checks is the cost without load: a single reference timed while the cores are
    # busy could come out slower than every attempt after it, and fail the test for nothing.
    cost = min(_timed(lambda: bcrypt.checkpw(b"x", hashed.encode())) for _ in range(3))
    calls = count_bcrypt(monkeypatch)
    for attempt in [_header("alice", "wrong"), _header("mallory", "wonderland"), _header("alice", b"x" * 100)]:
        before, started = calls[0], time.perf_counter()
        assert auth.check(attempt) is False
        assert time.perf_counter() - started >= 0.5 * cost
        assert calls[0] == before + 1
    assert auth.check(_header("alice", "wonderland")) is True
    # Only keyed digests are remembered: neither the password nor a plain hash of it.
    cache = list(auth._ok)
    assert len(cache) == 1 and len(cache[0]) == 32 and b"wonderland" not in cache[0]
    assert auth.check(None) is False and auth.check("Bearer abc") is False


def test_extra_headers_on_every_response(pki: Pki, sim: Simulator) -> None:
    with serving(sim, security(pki, users=dict([ALICE]), headers=HEADERS)) as server:
        responses = [
            requests.get(server.url + "/-/healthy", timeout=10),
            requests.get(server.url + "/metrics", timeout=10),  # 401
            requests.get(server.url + "/nope", auth=ALICE, timeout=10),  # 404
        ]
        assert [r.status_code for r in responses] == [200, 401, 404]
        for response in responses:
            for name, value in HEADERS.items():
                assert response.headers[name] == value
        too_many = raw(server, b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n")
        assert too_many.startswith(b"HTTP/1.1 431") and b"X-Frame-Options: deny\r\n" in too_many
        assert responses[0].headers["Content-Type"] == "text/plain; charset=utf-8"


# --- reload ---------------------------------------------------------------------------------------------


def test_reload_swaps_users_and_certificates_and_refuses_a_bad_file(pki: Pki, sim: Simulator, tmp_path: Path) -> None:
    main = tmp_path / "config.yml"
    main.write_text(
        f"api: {{base_url: '{sim.base_url}', token_url: '{sim.token_url}', retries: 0}}\n"
        f"auth: {{client_id: {DEMO_CLIENT_ID}, client_secret_file: secret}}\n"
    )
    (tmp_path / "secret").write_text(DEMO_CLIENT_SECRET)
    web = tmp_path / "web.yml"

    def write_web(cert: str, user: str, password_hash: str) -> None:
        web.write_text(
            f"tls_server_config: {{cert_file: '{pki.ca.parent / cert}.pem', key_file: '{pki.ca.parent / cert}.key'}}\n"
            f"basic_auth_users: {{{user}: '{password_hash}'}}\n"
        )

    write_web("server", "alice", bcrypt_hash("wonderland"))
    cfg = config.load(main, {})
    runtime = Runtime(cfg, sharding.Shard(), webconfig.load(web), str(web))
    app = App(
        lambda: runtime.refresher,
        runtime.registry,
        runtime.telemetry,
        reload=lambda: runtime.reload(str(main), {}),
        lifecycle=True,
    )
    server = Server(("127.0.0.1", 0), app, cfg.web, runtime.security)
    runtime.on_web = server.configure
    serve_in_thread(server)
    try:
        url = server.url
        assert requests.get(url + "/-/ready", auth=ALICE, verify=str(pki.ca), timeout=10).status_code in (200, 503)
        write_web("server2", "bob", bcrypt_hash("builder"))
        assert requests.post(url + "/-/reload", auth=ALICE, verify=str(pki.ca), timeout=10).status_code == 200
        bob = ("bob", "builder")
        # New connections get the new certificate (of another CA) and the new users.
        assert requests.get(url + "/metrics", auth=bob, verify=str(pki.ca2), timeout=10).status_code == 200
        assert requests.get(url + "/metrics", auth=ALICE, verify=str(pki.ca2), timeout=10).status_code == 401
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(url + "/-/healthy", verify=str(pki.ca), timeout=10)
        web.write_text(web.read_text().replace("bob: '$2b$", "bob: '$2b$$"))  # no longer a bcrypt hash
        refused = requests.post(url + "/-/reload", auth=bob, verify=str(pki.ca2), timeout=10)
        assert refused.status_code == 500
        assert "old config kept" in refused.text and str(tmp_path) not in refused.text and "bob" not in refused.text
        metrics = requests.get(url + "/metrics", auth=bob, verify=str(pki.ca2), timeout=10)
        assert metrics.status_code == 200
        assert "avepoint_config_last_reload_successful 0.0" in metrics.text
    finally:
        server.shutdown()
        server.server_close()
        runtime.refresher.close()


# --- request limits ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", b"414"),
        (b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", b"431"),
        (b"GET / HTTP/1.1\r\n" + (b"X-Big: " + b"b" * 1000 + b"\r\n") * 20 + b"\r\n", b"431"),
        (b"POST /-/reload HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000, b"413"),
        (b"POST /-/reload HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n", b"400"),
        (b"POST /-/reload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b"411"),
        (b"GET /\r\n\r\n", b"400"),
        (b"BREW /pot HTTP/1.1\r\n\r\n", b"501"),
    ],
)
def test_oversized_or_malformed_requests_are_refused(sim: Simulator, request_bytes: bytes, status: bytes) -> None:
    with serving(sim) as server:
        answer = raw(server, request_bytes)
        assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
        assert requests.get(server.url + "/-/healthy", timeout=5).status_code == 200


def test_a_slow_loris_is_cut_off_while_others_are_served(sim: Simulator) -> None:
    with serving(sim, read_header_timeout=1.5) as server:
        result: dict[str, float] = {}

        def loris() -> None:
            with socket.create_connection(address(server), timeout=10) as s:
                started = time.monotonic()
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: exporter\r\n")
                for byte in b"X-Slow: " + b"z" * 40:
                    try:
                        s.sendall(bytes([byte]))
                    except OSError:
                        break
                    readable, _, _ = select.select([s], [], [], 0.5)  # one byte every half second
                    if readable:
                        with contextlib.suppress(OSError):
                            s.recv(1024)
                        break
                result["cut_after"] = time.monotonic() - started

        thread = threading.Thread(target=loris)
        thread.start()
        time.sleep(0.3)
        scrape_started = time.monotonic()
        assert requests.get(server.url + "/metrics", timeout=10).status_code == 200
        assert time.monotonic() - scrape_started < 1.5
        thread.join(timeout=10)
        assert 1.2 <= result["cut_after"] <= 3.0, result


def test_an_idle_kept_alive_connection_is_closed(sim: Simulator) -> None:
    with serving(sim, idle_timeout=0.5) as server, requests.Session() as session:
        assert session.get(server.url + "/-/healthy", timeout=5).status_code == 200
        time.sleep(1.0)
        assert server.connections == 0
        assert session.get(server.url + "/-/healthy", timeout=5).status_code == 200  # clients reconnect


def test_idle_connections_beyond_the_limit_do_not_stop_a_scrape(sim: Simulator) -> None:
    with serving(sim, max_connections=4) as server:
        idle = [socket.create_connection(address(server)) for _ in range(8)]
        try:
            time.sleep(0.3)
            assert server.connections <= 4
            response = requests.get(server.url + "/metrics", timeout=10)
            assert response.status_code == 200
            closed = sum(closed_by_server(s, within=0.3) for s in idle)
            assert closed >= 5, "the oldest waiting connections made room"
        finally:
            for s in idle:
                s.close()


def test_when_every_connection_is_busy_new_ones_are_refused(sim: Simulator) -> None:
    sim.faults.latency = 2.0
    with serving(sim, max_connections=2) as server:
        slow: list[int] = []

        def scrape() -> None:
            headers = {"X-Prometheus-Scrape-Timeout-Seconds": "2"}
            slow.append(requests.get(server.url + "/metrics", headers=headers, timeout=10).status_code)

        threads = [threading.Thread(target=scrape) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        try:
            refused = requests.get(server.url + "/-/healthy", timeout=5)
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        except requests.ConnectionError:
            pass  # the refusal can also reach the client as a reset
        for t in threads:
            t.join(timeout=10)
        assert slow == [200, 200]
        assert requests.get(server.url + "/-/healthy", timeout=5).status_code == 200


# --- the console script ------------------------------------------------------------------------------------


def _start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [SCRIPT, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _wait(get: Callable[[], requests.Response], proc: subprocess.Popen[str], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exporter exited early with {proc.returncode}: {proc.communicate()[1]}")
        with contextlib.suppress(requests.ConnectionError):
            if get().status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError("the exporter did not become ready")


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    return out, err


def _configs(tmp_path: Path, sim: Simulator, pki: Pki, users: dict[str, str], client_secret: str) -> tuple[Path, Path]:
    main = tmp_path / "config.yml"
    main.write_text(
        f"api:\n  base_url: {sim.base_url}\n  token_url: {sim.token_url}\n  retries: 0\n"
        f"auth:\n  client_id: {DEMO_CLIENT_ID}\n  client_secret_file: secret\n"
        "cache:\n  ttl: 1s\n  max_scrape_wait: 3s\n"
    )
    (tmp_path / "secret").write_text(client_secret + "\n")
    web = tmp_path / "web.yml"
    listed = "".join(f"  {name}: '{hashed}'\n" for name, hashed in users.items())
    web.write_text(
        f"tls_server_config:\n  cert_file: {pki.server.cert}\n  key_file: {pki.server.key}\n"
        f"http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
        f"basic_auth_users:\n{listed}"
    )
    return main, web


@pytest.mark.e2e
def test_console_script_serves_tls_and_basic_auth(pki: Pki, sim: Simulator, tmp_path: Path) -> None:
    main, web = _configs(tmp_path, sim, pki, {"alice": bcrypt_hash("wonderland")}, DEMO_CLIENT_SECRET)
    port = free_port()
    proc = _start(
        ["--config.file", str(main), "--web.config.file", str(web), "--web.listen-address", f"127.0.0.1:{port}"]
    )
    url = f"https://127.0.0.1:{port}"
    try:
        _wait(lambda: requests.get(url + "/-/ready", auth=ALICE, verify=str(pki.ca), timeout=2), proc)
        scrape = requests.get(url + "/metrics", auth=ALICE, verify=str(pki.ca), timeout=10)
        assert scrape.status_code == 200 and "avepoint_backup_job_status{" in scrape.text
        assert scrape.headers["X-Content-Type-Options"] == "nosniff"
        assert requests.get(url + "/metrics", verify=str(pki.ca), timeout=10).status_code == 401
        assert requests.get(url + "/-/healthy", verify=str(pki.ca), timeout=10).status_code == 200
        with contextlib.suppress(requests.ConnectionError):
            assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 400
    finally:
        _, err = _stop(proc)
    assert proc.returncode == 0
    assert "Traceback" not in err
    assert "tls=True" in err and "basic_auth=True" in err


@pytest.mark.e2e
def test_secrets_never_leave_the_process(pki: Pki, tmp_path: Path) -> None:
    client_secret = "cs-7Hq2-known-client-secret-Zx9"
    password = "pw-Lm4r-known-basic-auth-password-Qe1"
    hashed = bcrypt_hash(password)
    seen: list[str] = []

    def record(response: requests.Response) -> requests.Response:
        seen.append(f"{response.status_code} {dict(response.headers)!r}\n{response.text}")
        return response

    with Simulator(FleetSpec(customers=3, seed=3), client_secret=client_secret) as sim:
        main, web = _configs(tmp_path, sim, pki, {"prometheus": hashed}, client_secret)
        port = free_port()
        proc = _start(
            [
                "--config.file",
                str(main),
                "--web.config.file",
                str(web),
                "--web.enable-lifecycle",
                "--web.listen-address",
                f"127.0.0.1:{port}",
                "--log.level",
                "debug",
                "--log.format",
                "json",
            ]
        )
        url = f"https://127.0.0.1:{port}"
        good = ("prometheus", password)

        def get(path: str, **kwargs: Any) -> requests.Response:
            return record(requests.get(url + path, verify=str(pki.ca), timeout=10, **kwargs))

        def metrics_until(text: str) -> None:
            deadline = time.monotonic() + 10
            while text not in get("/metrics", auth=good).text and time.monotonic() < deadline:
                time.sleep(0.2)
            assert text in seen[-1]

        try:
            _wait(lambda: get("/-/ready", auth=good), proc)
            metrics_until("avepoint_up 1.0")
            # Wrong passwords, including the client secret tried as one, and the password as a user name.
            get("/metrics", auth=("prometheus", client_secret))
            get("/metrics", auth=(password, "guess"))
            get("/", auth=("nobody", password + "x"))
            # A failing upstream.
            sim.faults.status_override = 500
            metrics_until('avepoint_refresh_success{customer_id="",endpoint="customers"} 0.0')
            sim.faults.token_status = 401
            sim.revoke_tokens()
            time.sleep(1.1)
            get("/metrics", auth=good)
            # A bad main config on POST /-/reload, then the plaintext password pasted where its hash belongs.
            good_main = main.read_text()
            main.write_text(good_main + "bogus: 1\n")
            record(requests.post(url + "/-/reload", auth=good, verify=str(pki.ca), timeout=10))
            main.write_text(good_main)
            assert requests.post(url + "/-/reload", auth=good, verify=str(pki.ca), timeout=10).status_code == 200
            metrics_until("avepoint_config_last_reload_successful 1.0")
            web.write_text(web.read_text().replace(hashed, password))
            proc.send_signal(signal.SIGHUP)
            metrics_until("avepoint_config_last_reload_successful 0.0")
            assert get("/metrics", auth=good).status_code == 200  # the old users stay
        finally:
            out, err = _stop(proc)
    assert proc.returncode == 0
    logs = out + err
    assert "reload failed, old config kept" in logs and "unknown key bogus" in logs
    assert "basic_auth_users.prometheus: not a bcrypt hash" in logs
    assert any(s.startswith("401 ") for s in seen) and any(s.startswith("500 ") for s in seen)
    encoded = base64.b64encode(f"prometheus:{password}".encode()).decode()
    for value in (client_secret, password, hashed, encoded):
        assert value not in logs
        for text in seen:
            assert value not in text
