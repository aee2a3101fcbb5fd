"""The API client against the simulator on loopback, both backends: endpoints, paging, retries, tokens, faults."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, FleetSpec, Simulator
from exporter import config
from exporter.errors import AuthError, HTTPStatusError, ResponseFormatError, TransportError, UpstreamTimeout
from exporter.upstream import Client, RateLimiter, environment, parse
from exporter.upstream.limits import HEADROOM
from exporter.upstream.routes import (
    EP_CUSTOMERS,
    EP_JOBS,
    EP_JOBS_BY_MODULE,
    EP_PROTECTED,
    EP_SERVICES,
    EP_TOKEN,
    EP_V3_CUSTOMERS,
    EP_V3_JOBS,
    EP_V3_PROTECTED,
    EP_V3_SERVICES,
)
from tests.benchmarks import spread
from tests.support import free_port, make_cert, write

SECRET = DEMO_CLIENT_SECRET
VERSIONS = ("legacy", "v3")
# The endpoint label of each client method, per backend.
ENDPOINTS = {
    "legacy": {
        "customers": EP_CUSTOMERS,
        "jobs": EP_JOBS,
        "jobs_for": EP_JOBS_BY_MODULE,
        "protected": EP_PROTECTED,
        "services": EP_SERVICES,
    },
    "v3": {
        "customers": EP_V3_CUSTOMERS,
        "jobs": EP_V3_JOBS,
        "jobs_for": EP_V3_JOBS,
        "protected": EP_V3_PROTECTED,
        "services": EP_V3_SERVICES,
    },
}


class Recorder:
    """Collects what the client reports per attempt, and the backoff sleeps it asks for."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.sleeps: list[float] = []

    def observe(self, endpoint: str, code: str, seconds: float) -> None:
        self.requests.append((endpoint, code))

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


FIXED_TIME = 1_760_000_000.0


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=5, seed=3), clock=lambda: FIXED_TIME) as simulator:
        yield simulator


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


ALL_GROUPS = config.EndpointsConfig(jobs=True, protected=True, services=True)


def make_client(
    sim: Simulator,
    rec: Recorder | None = None,
    version: str = "legacy",
    scopes: tuple[str, ...] | None = None,
    **api: object,
) -> Client:
    rec = rec or Recorder()
    api_cfg = replace(
        config.ApiConfig(
            base_url=sim.base_url,
            token_url=sim.token_url,
            version=version,
            timeout=5.0,
            # No client-side limit to speak of: the limiter spaces every start and would sleep on
            # rec.sleep too, so the backoff sleeps these tests count would not be alone.
            max_requests_per_second=1e9,
        ),
        **api,  # type: ignore[arg-type]
    )
    auth = config.AuthConfig(
        client_id=DEMO_CLIENT_ID,
        client_secret=config.Secret(SECRET),
        scopes=scopes if scopes is not None else config.default_scopes(version, ALL_GROUPS),
    )
    return Client(api_cfg, auth, observe=rec.observe, sleep=rec.sleep)


def test_lists_customers_and_jobs(sim: Simulator, version: str) -> None:
    client = make_client(sim, version=version)
    assert client.version == version
    customers = client.customers()
    assert [c["id"] for c in customers] == sim.customer_ids
    assert customers == (sim.customers if version == "legacy" else sim.customers_v3)
    cid = sim.customer_ids[0]
    rows = client.jobs(cid)
    assert rows == (sim.jobs(cid) if version == "legacy" else sim.jobs_v3(cid))
    assert len(rows) > 0


def test_both_backends_parse_to_the_same_records(sim: Simulator) -> None:
    legacy, v3 = make_client(sim), make_client(sim, version="v3")
    for cid in sim.customer_ids:
        old = [parse.job(row) for row in legacy.jobs(cid)]
        new = [parse.job(row) for row in v3.jobs(cid)]
        # The one documented difference: a module that never ran says "Not Finished" in legacy only.
        assert [(r and r.status != "Not Finished" and r, e) for r, e in old] == [
            (r and r.status != "None" and r, e) for r, e in new
        ]
        assert [r and r.outcome for r, _ in old] == [r and r.outcome for r, _ in new]
    old_customers = [parse.customer(row)[0] for row in legacy.customers()]
    new_customers = [parse.customer(row)[0] for row in v3.customers()]
    assert [replace(c, management_mode="", tenants=()) for c in new_customers if c] == old_customers
    assert all(c and c.management_mode and c.tenants for c in new_customers)


def test_customers_can_be_limited_to_some_ids(sim: Simulator, version: str) -> None:
    client = make_client(sim, version=version)
    wanted = sim.customer_ids[1:3]
    assert [c["id"] for c in client.customers(wanted)] == wanted
    assert [s["customerId"] for s in client.services(wanted[:1])] == wanted[:1]
    before = sum(sim.requests.values())
    assert client.customers([]) == client.services([]) == []
    assert sum(sim.requests.values()) == before


def test_protected_and_services_of_both_backends(sim: Simulator, version: str) -> None:
    rec = Recorder()
    client = make_client(sim, rec, version=version)
    with_m365 = next(cid for cid in sim.customer_ids if sim.protected(cid))
    rows = client.protected(with_m365)
    assert rows == sim.protected(with_m365)
    records = [parse.protected(row) for row in rows]
    assert records and all(r is not None and not errors for r, errors in records)
    services = client.services()
    assert services == (sim.services() if version == "legacy" else sim.services_v3())
    subscriptions = [parse.subscriptions(element) for element in services]
    assert all(subs and not errors for subs, errors in subscriptions)
    assert {(ENDPOINTS[version]["protected"], "200"), (ENDPOINTS[version]["services"], "200")} <= set(rec.requests)
    assert all(with_m365 not in endpoint for endpoint, _ in rec.requests)


def test_subscriptions_parse_the_same_on_both_backends(sim: Simulator) -> None:
    legacy = [parse.subscriptions(e) for e in make_client(sim).services()]
    v3 = [parse.subscriptions(e) for e in make_client(sim, version="v3").services()]
    assert legacy == v3
    assert any(s.capacity_purchased_bytes for subs, _ in v3 for s in subs)


def test_missing_scope_is_a_403_that_names_it(sim: Simulator, version: str) -> None:
    # Customers and jobs only: the app registration lacks the protected-data and licence scopes.
    client = make_client(sim, version=version, scopes=config.default_scopes(version))
    assert client.customers()
    family = "partner" if version == "legacy" else "elements"
    with pytest.raises(AuthError) as info:
        client.services()
    assert info.value.status == 403
    assert f"{family}.license.read.all" in str(info.value)
    with pytest.raises(AuthError, match=rf"{family}\.cbprotected\.read\.all"):
        client.protected(sim.customer_ids[0])


def test_jobs_for_one_module_percent_encodes_the_path(sim: Simulator) -> None:
    client = make_client(sim)
    cid = sim.customer_ids[0]
    row = sim.jobs(cid)[0]
    rows = client.jobs_for(cid, str(row["jobType"]), str(row["jobModule"]))
    assert [(r["jobType"], r["jobModule"]) for r in rows] == [(row["jobType"], row["jobModule"])]
    assert sim.requests[("/partner/customers/{id}/jobs/jobType/{jobType}/jobModule/{jobModule}", 200)] == 1


def test_follows_next_links() -> None:
    with Simulator(FleetSpec(customers=7, seed=3), page_size=2) as sim:
        rec = Recorder()
        client = make_client(sim, rec)
        assert [c["id"] for c in client.customers()] == sim.customer_ids
        assert rec.requests.count((EP_CUSTOMERS, "200")) == 4  # pages of 2, 2, 2, 1


def test_refuses_next_link_to_another_host(sim: Simulator) -> None:
    client = make_client(sim)
    with pytest.raises(ResponseFormatError, match="another host"):
        client._next_link("https://evil.example/partner/customers?$skip=2", EP_CUSTOMERS)
    assert client._next_link("/partner/customers?$skip=2", EP_CUSTOMERS) == sim.base_url + "/partner/customers?$skip=2"


def test_one_token_for_many_requests_and_threads(sim: Simulator, version: str) -> None:
    rec = Recorder()
    client = make_client(sim, rec, version=version)
    threads = [threading.Thread(target=client.jobs, args=(cid,)) for cid in sim.customer_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert rec.requests.count((EP_TOKEN, "200")) == 1
    assert rec.requests.count((ENDPOINTS[version]["jobs"], "200")) == len(sim.customer_ids)


def test_renews_token_once_on_401(sim: Simulator, version: str) -> None:
    rec = Recorder()
    client = make_client(sim, rec, version=version)
    client.customers()
    sim.revoke_tokens()
    client.customers()
    assert rec.requests.count((EP_TOKEN, "200")) == 2
    assert rec.requests.count((ENDPOINTS[version]["customers"], "401")) == 1


def test_expired_token_is_renewed_before_use() -> None:
    now = [1000.0]
    with Simulator(FleetSpec(customers=1), clock=lambda: now[0]) as sim:
        sim.faults.token_ttl = 120
        rec = Recorder()
        client = Client(
            config.ApiConfig(base_url=sim.base_url, token_url=sim.token_url, max_requests_per_second=1000),
            config.AuthConfig(client_id=DEMO_CLIENT_ID, client_secret=config.Secret(SECRET)),
            observe=rec.observe,
            clock=lambda: now[0],
            sleep=rec.sleep,
        )
        client.customers()
        now[0] += 100  # past half the life of a 120 s token (renewal margin), not yet expired
        client.customers()
        assert rec.requests.count((EP_TOKEN, "200")) == 2
        assert (EP_CUSTOMERS, "401") not in rec.requests


def test_bad_credentials_give_a_clear_auth_error_without_the_secret(sim: Simulator) -> None:
    client = Client(
        config.ApiConfig(base_url=sim.base_url, token_url=sim.token_url),
        config.AuthConfig(client_id=DEMO_CLIENT_ID, client_secret=config.Secret("wrong-Secret-123")),
    )
    with pytest.raises(AuthError) as info:
        client.customers()
    text = str(info.value)
    assert "invalid_client" in text and "auth.client_id" in text
    assert "wrong-Secret-123" not in text and info.value.status == 400


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_retries_server_errors_with_backoff_then_gives_up(sim: Simulator, status: int, version: str) -> None:
    rec = Recorder()
    client = make_client(sim, rec, version=version, retries=3)
    sim.faults.status_override = status
    with pytest.raises(HTTPStatusError) as info:
        client.customers()
    assert info.value.status == status
    assert rec.requests.count((ENDPOINTS[version]["customers"], str(status))) == 4
    assert len(rec.sleeps) == 3
    # Full jitter: each wait is random but within the exponential cap.
    assert all(0 <= s <= 0.5 * 2**i for i, s in enumerate(rec.sleeps))


def test_honours_retry_after_up_to_max_backoff(sim: Simulator, version: str) -> None:
    rec = Recorder()
    client = make_client(sim, rec, version=version, retries=2, max_backoff=5.0)
    sim.faults.status_override = 429
    sim.faults.retry_after = 3
    with pytest.raises(HTTPStatusError):
        client.customers()
    assert rec.sleeps == [3.0, 3.0]
    sim.faults.retry_after = 3600
    rec.sleeps.clear()
    with pytest.raises(HTTPStatusError):
        client.customers()
    assert rec.sleeps == [5.0, 5.0]


def test_recovers_when_the_error_passes(sim: Simulator, version: str) -> None:
    rec = Recorder()
    client = make_client(sim, rec, version=version, retries=3)
    sim.faults.status_override = 503
    calls = 0

    def heal(seconds: float) -> None:
        nonlocal calls
        calls += 1
        sim.faults.status_override = None

    client._transport._sleep = heal
    assert len(client.customers()) == 5
    assert calls == 1


def test_403_and_404_are_not_retried(sim: Simulator, version: str) -> None:
    rec = Recorder()
    client = make_client(sim, rec, version=version)
    cid = sim.customer_ids[1]
    sim.faults.forbidden_customers = {cid}
    with pytest.raises(AuthError, match="forbidden"):
        client.jobs(cid)
    with pytest.raises(HTTPStatusError) as info:
        client.jobs("00000000-0000-0000-0000-000000000000")
    assert info.value.status == 404
    assert rec.sleeps == []


@pytest.mark.parametrize(
    ("fault", "message"),
    [("html_ok", "HTML instead of JSON"), ("truncated", "invalid or truncated JSON")],
)
def test_bad_bodies_are_response_format_errors(sim: Simulator, fault: str, message: str, version: str) -> None:
    client = make_client(sim, version=version)
    setattr(sim.faults, fault, True)
    with pytest.raises(ResponseFormatError, match=message) as info:
        client.customers()
    assert info.value.endpoint == ENDPOINTS[version]["customers"]
    assert info.value.request_id  # the simulator's request id is kept for support cases


def test_html_error_page_is_an_http_error(sim: Simulator, version: str) -> None:
    client = make_client(sim, version=version, retries=0)
    sim.faults.status_override = 502
    sim.faults.html_errors = True
    with pytest.raises(HTTPStatusError, match="HTTP 502"):
        client.customers()


def test_slow_upstream_times_out(sim: Simulator, version: str) -> None:
    rec = Recorder()
    client = make_client(sim, rec, version=version, timeout=0.3, retries=1)
    sim.faults.latency = 2.0
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        client.customers()
    assert time.monotonic() - started < 1.8
    assert rec.requests.count((ENDPOINTS[version]["customers"], "timeout")) == 2


def test_connection_refused_is_a_transport_error() -> None:
    port = free_port()
    rec = Recorder()
    client = Client(
        config.ApiConfig(base_url=f"http://127.0.0.1:{port}", token_url=f"http://127.0.0.1:{port}/t", retries=2),
        config.AuthConfig(client_id="a", client_secret=config.Secret("b")),
        observe=rec.observe,
        sleep=rec.sleep,
    )
    with pytest.raises(TransportError, match="connection refused") as info:
        client.customers()
    assert f"{port}" not in str(info.value)  # our own words, not a URL
    assert rec.requests == [(EP_TOKEN, "connection_error")] * 3


def test_concurrency_cap_holds(sim: Simulator, version: str) -> None:
    client = make_client(sim, version=version, max_concurrency=2)
    client.token()
    sim.faults.latency = 0.2
    started = time.monotonic()
    threads = [threading.Thread(target=client.jobs, args=(sim.customer_ids[0],)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 6 requests, 2 at a time, 0.2 s each: at least 3 rounds.
    assert time.monotonic() - started >= 0.6


def test_rate_limiter_spaces_every_start_with_no_burst() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(rate=10, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        limiter.acquire()
    # The first goes at once, each next 1/(10 * HEADROOM) s after the one before: no burst, even after idling.
    spacing = 1 / (10 * HEADROOM)
    assert slept == pytest.approx([spacing] * 3)
    now[0] += 5.0
    limiter.acquire()
    limiter.acquire()
    assert slept == pytest.approx([spacing] * 4)


def test_workers_arriving_together_start_one_interval_apart() -> None:
    """The refresh pool's eight workers asking at the same instant: each starts an interval after the one
    before, so a sliding second holds under `rate` starts, not rate + 7 (the old burst of max_concurrency)."""
    waits: list[float] = []
    limiter = RateLimiter(rate=10, clock=lambda: 0.0, sleep=waits.append, headroom=1.0)
    for _ in range(8):
        limiter.acquire()
    assert waits == pytest.approx([0.1 * i for i in range(1, 8)])


def test_headroom_keeps_late_starts_within_the_rate() -> None:
    """Starts delayed by up to 0.1 s after their slot (a loaded machine) never put more than `rate` into a
    sliding second at 0.9 of the rate; at exactly the rate they do."""
    rng = random.Random(7)

    def busiest_second(headroom: float) -> int:
        waits: list[float] = []
        limiter = RateLimiter(rate=50, clock=lambda: 0.0, sleep=waits.append, headroom=headroom)
        for _ in range(500):
            limiter.acquire()
        # The first start at 0; each later one at its slot plus a wake-up delay of up to 0.1 s.
        return spread.busiest_second(sorted([0.0] + [w + rng.uniform(0.0, 0.1) for w in waits]))

    assert busiest_second(HEADROOM) <= 50
    assert busiest_second(1.0) > 50


def test_job_route_label_is_a_template(sim: Simulator, version: str) -> None:
    rec = Recorder()
    client = make_client(sim, rec, version=version)
    client.jobs_for(sim.customer_ids[0], "Microsoft 365", "Exchange Online")
    assert (ENDPOINTS[version]["jobs_for"], "200") in rec.requests
    assert all(sim.customer_ids[0] not in endpoint for endpoint, _ in rec.requests)


def test_certificate_authentication_against_the_simulator(tmp_path: Path) -> None:
    key_path, cert_path, _ = make_cert(tmp_path)
    text = f"auth: {{client_id: {DEMO_CLIENT_ID}, private_key_file: {key_path}, certificate_file: {cert_path}}}\n"
    auth = config.load(write(tmp_path, text), env={}).auth
    with Simulator(FleetSpec(customers=2), client_secret=None, public_key_pem=cert_path.read_bytes()) as sim:
        client = Client(
            config.ApiConfig(base_url=sim.base_url, token_url=sim.token_url, max_requests_per_second=1000), auth
        )
        assert len(client.customers()) == 2
        assert sim.requests[("/connect/token", 200)] == 1
    # A key the simulator does not know is refused.
    other = tmp_path / "other"
    other.mkdir()
    _, other_cert, _ = make_cert(other)
    with Simulator(FleetSpec(customers=2), client_secret=None, public_key_pem=other_cert.read_bytes()) as sim:
        client = Client(config.ApiConfig(base_url=sim.base_url, token_url=sim.token_url), auth)
        with pytest.raises(AuthError, match="refused the credentials"):
            client.customers()


def test_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP(S)_PROXY of the environment given applies; os.environ itself is never read below the command line."""
    seen: list[str] = []

    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = b'{"value": [{"id": "c1", "organization": "Via proxy"}]}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            seen.append(self.path)
            body = b'{"access_token": "t", "expires_in": 3600}'
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        env = {"HTTP_PROXY": f"http://127.0.0.1:{proxy.server_address[1]}"}
        api = config.ApiConfig(base_url="http://api.example.invalid", token_url="http://id.example.invalid/token")
        auth = config.AuthConfig(client_id="a", client_secret=config.Secret("b"))
        client = Client(api, auth, env=env)
        assert client.customers()[0]["organization"] == "Via proxy"
        assert seen == ["http://id.example.invalid/token", "http://api.example.invalid/partner/customers"]
        # The same proxy in os.environ, none in the mapping: no proxy.
        monkeypatch.setenv("HTTP_PROXY", env["HTTP_PROXY"])
        seen.clear()
        with pytest.raises(TransportError):
            Client(replace(api, retries=0), auth).customers()
        assert seen == []
    finally:
        proxy.shutdown()


def test_no_proxy_and_ca_bundle_are_read_from_the_mapping_given() -> None:
    env = {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "identity.example.com", "REQUESTS_CA_BUNDLE": "/ca.pem"}
    assert environment.proxies_for("https://graph.example.com", env)["https"] == "http://proxy:3128"
    assert environment.proxies_for("https://identity.example.com/connect/token", env) == {}
    assert environment.ca_bundle(None, env) == "/ca.pem"
    assert environment.ca_bundle("/mine.pem", env) == "/mine.pem"
    assert environment.ca_bundle(None, {"CURL_CA_BUNDLE": "/curl.pem"}) == "/curl.pem"
    assert environment.ca_bundle(None, {}) is True


def test_a_token_failure_says_so(sim: Simulator, version: str) -> None:
    """The refresher tells a failed token (every call would fail) from a failed call by `no_token`."""
    client = make_client(sim, version=version)
    sim.faults.forbidden_customers = {sim.customer_ids[0]}
    with pytest.raises(AuthError) as call:
        client.jobs(sim.customer_ids[0])
    assert not call.value.no_token
    bad = Client(
        config.ApiConfig(base_url=sim.base_url, token_url=sim.token_url, version=version),
        config.AuthConfig(client_id=DEMO_CLIENT_ID, client_secret=config.Secret("wrong")),
    )
    with pytest.raises(AuthError, match="refused the credentials") as token:
        bad.customers()
    assert token.value.no_token
