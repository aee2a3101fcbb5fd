"""A hostile upstream (issue 11): answers built to exhaust memory or time, and token lifetimes that break the cache.

Each attack is served on loopback by tests/support/faultproxy.py in front of the simulator (or by a behaviour
defined here), against the client and refresher as the exporter wires them. The memory attacks run the
refresher in a process of its own (tests/support/hostile_child.py) so its peak resident size is its own; run this
file as `python -m tests.integration.test_hostile_upstream` to print the figures of the full-size attacks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, FleetSpec, Simulator
from exporter import config
from exporter.errors import ConfigError, LimitExceeded, ResponseFormatError
from exporter.model import INTERNAL
from exporter.refresh import Refresher
from exporter.upstream import Client, auth
from exporter.upstream.routes import EP_CUSTOMERS, EP_V3_CUSTOMERS
from tests.support import ROOT, free_port
from tests.support.faultproxy import Behaviour, FaultProxy, ProxyHandler, Respond, Rewrite

NOW = 1_760_000_000.0
TTL = 60.0
SCRIPT = str(Path(sys.executable).parent / "avepoint-backup-exporter")
# The Helm chart's default memory limit: every refused attack must stay well under it.
CHART_LIMIT_KIB = 256 * 1024
# The child's address-space cap: the old code fails with MemoryError here instead of taking the machine.
CHILD_AS_LIMIT_MIB = 3072


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- hostile bodies ------------------------------------------------------------------------------------


def gzipped(prefix: bytes, unit: bytes, count: int, suffix: bytes) -> bytes:
    """gzip of prefix + unit * count + suffix, compressed piecewise: 250 MB never exists at once here."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    per_block = max(1, 2**20 // len(unit))
    whole, rest = divmod(count, per_block)
    block = unit * per_block
    parts = [z.compress(prefix)]
    parts += [z.compress(block) for _ in range(whole)]
    parts += [z.compress(unit * rest), z.compress(suffix), z.flush()]
    return b"".join(parts)


@cache
def gzip_bomb(decoded_mb: int = 250) -> bytes:
    """`{"value": [{}, {}, ...]}` of `decoded_mb` MB once inflated, some 250 KB on the wire."""
    return gzipped(b'{"value": [', b"{},", decoded_mb * 10**6 // 3, b"{}]}")


def empty_objects(mb: float) -> bytes:
    """`{"value": [{}, {}, ...]}` of `mb` MB, uncompressed: few bytes, many Python objects."""
    return b'{"value": [' + b"{}," * int(mb * 10**6 / 3) + b"{}]}"


def job_rows(count: int, compact: bool = False) -> bytes:
    """`count` distinct, valid job rows (modules) for one customer; compact ones are 100 bytes each."""
    if compact:
        row = b'{"jobType": "Microsoft 365", "jobModule": "M %d", "status": "Finished", "jobId": "j%d"}'
        return b'{"value": [' + b",".join(row % (i, i) for i in range(count)) + b"]}"
    row = (
        b'{"jobType": "Microsoft 365", "jobModule": "Module %06d", "status": "Finished", "jobId": "%08x-0000-4000",'
        b' "name": "Backup job %d", "totalCount": "35622", "failedCount": "0", "successfulCount": "35610",'
        b' "skippedCount": "12", "warningCount": "0", "backupSize": "91.38 GB", "startTime": "2026-12-01T03:38:41Z",'
        b' "endTime": "2026-12-01T04:45:33Z", "lastModifyTime": "2026-12-01T04:45:33Z", "jobDuration": "1h6m52s"}'
    )
    return b'{"value": [' + b",".join(row % (i, i, i) for i in range(count)) + b"]}"


GZIP = (("Content-Encoding", "gzip"),)


def jobs_route(customer_id: str) -> str:
    return rf"^/partner/customers/{customer_id}/jobs$"


# --- the refresher in a child process --------------------------------------------------------------------


def base_mapping(proxy: FaultProxy, sim: Simulator, **api: Any) -> dict[str, Any]:
    return {
        "api": {
            "base_url": proxy.url,
            "token_url": sim.token_url,
            "max_requests_per_second": 1000,
            "retries": 1,
            **api,
        },
        "auth": {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET},
        "cache": {"ttl": f"{TTL:g}s"},
    }


def run_child(
    attack: Callable[[FaultProxy, str], None], as_limit: int | None = CHILD_AS_LIMIT_MIB, customers: int = 3
) -> dict[str, Any]:
    """Warm a refresher in a child process, break one customer's jobs with `attack`, return its report."""
    with (
        Simulator(FleetSpec(customers=customers, seed=2), clock=lambda: NOW) as sim,
        FaultProxy(sim.base_url) as proxy,
    ):
        victim = sim.customer_ids[1]
        args = [sys.executable, "-m", "tests.support.hostile_child", json.dumps(base_mapping(proxy, sim))]
        if as_limit is not None:
            args.append(str(as_limit))
        proc = subprocess.Popen(
            args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout is not None and proc.stdin is not None
            assert proc.stdout.readline().strip() == "warm", proc.stderr.read() if proc.stderr else ""
            attack(proxy, victim)
            proc.stdin.write("go\n")
            proc.stdin.flush()
            out, err = proc.communicate(timeout=300)
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        lines = out.strip().splitlines()
        assert proc.returncode == 0 and lines, err[-3000:]
        report: dict[str, Any] = json.loads(lines[-1])
        report["victim"] = victim
        return report


def assert_only_victim_failed(report: dict[str, Any], key: str) -> None:
    """The victim failed naming `key`, kept its last good data; the others refreshed; one clear log line."""
    victim = report["victim"]
    customers = report["customers"]
    assert report["up"] is True
    assert not customers[victim]["success"], customers[victim]
    assert key in customers[victim]["error"] and "LimitExceeded" in customers[victim]["error"]
    assert customers[victim]["jobs"] > 0  # the last good data is kept
    for cid, outcome in customers.items():
        if cid != victim:
            assert outcome["success"], (cid, outcome)
    (line,) = report["warnings"]
    assert line["customer_id"] == victim and key in str(line["error"]), line
    assert line["error_class"] == "LimitExceeded"


def peak_mib(report: dict[str, Any]) -> float:
    return round(int(report["peak_kib"]) / 1024, 1)


# --- A: memory -----------------------------------------------------------------------------------------------


def test_a_gzip_bomb_is_stopped_while_it_inflates() -> None:
    """255 KB on the wire, 250 MB inflated: it took the process to 6.9 GB. Now it stops at api.max_decoded_size."""
    body = gzip_bomb()
    assert len(body) < 300_000
    report = run_child(lambda proxy, victim: proxy.add(jobs_route(victim), Respond(200, body, headers=GZIP)))
    assert_only_victim_failed(report, "api.max_decoded_size")
    # The child's own baseline is some 60 MiB; the cap is 32 MiB, held as 64 KiB chunks.
    assert report["peak_kib"] < CHART_LIMIT_KIB // 2, peak_mib(report)


def test_a_many_small_values_are_refused_before_json_loads() -> None:
    """15 MB of `{}` fits every byte cap but is 5 million dicts (some 400 MB): refused by counting first."""
    body = empty_objects(15)
    report = run_child(lambda proxy, victim: proxy.add(jobs_route(victim), Respond(200, body)))
    assert_only_victim_failed(report, "api.max_json_values")
    assert report["peak_kib"] < CHART_LIMIT_KIB // 2, peak_mib(report)
    assert report["seconds"] < 10


def test_a_too_many_job_rows_fail_only_that_customer() -> None:
    """30,000 valid job modules within the byte and value caps: more than jobs.max_per_customer, refused."""
    body = job_rows(30_000)
    assert len(body) < 16 * 2**20
    report = run_child(lambda proxy, victim: proxy.add(jobs_route(victim), Respond(200, body)))
    assert_only_victim_failed(report, "jobs.max_per_customer")
    assert report["peak_kib"] < CHART_LIMIT_KIB * 3 // 4, peak_mib(report)


def test_a_big_answers_at_once_cost_no_more_than_one() -> None:
    """Every customer answers the largest body the bounds let through to json.loads, all at once: the
    answers wait for their turn past 1 MiB, so eight cost what one does, not eight times as much."""
    body = gzipped(b"", maximal_allowed_body(), 1, b"")

    def attack(proxy: FaultProxy, victim: str) -> None:
        proxy.add(r"^/partner/customers/[^/]+/jobs$", Respond(200, body, headers=GZIP))

    report = run_child(attack, customers=8)
    assert all(not c["success"] and "jobs.max_per_customer" in c["error"] for c in report["customers"].values()), (
        report["customers"]
    )
    # One such answer peaks at some 150 MiB in all (the figures below); eight at once without turns
    # (api.max_concurrency is 8), at 350 to 650 MiB.
    assert report["peak_kib"] < 200 * 1024, peak_mib(report)


@dataclass
class Chunked(Behaviour):
    """A 200 without Content-Length: `count` chunks of `piece`, so only counting while reading can stop it."""

    piece: bytes
    count: int

    def serve(self, handler: ProxyHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(b'{"value": ['), b'{"value": ['))
            for _ in range(self.count):
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(self.piece), self.piece))
            handler.wfile.write(b"0\r\n\r\n")


@contextlib.contextmanager
def upstream(customers: int = 3) -> Iterator[tuple[Simulator, FaultProxy]]:
    with Simulator(FleetSpec(customers=customers, seed=2), clock=lambda: NOW) as sim, FaultProxy(sim.base_url) as proxy:
        yield sim, proxy


def client_for(sim: Simulator, proxy: FaultProxy, **api: Any) -> Client:
    cfg = config.from_mapping(base_mapping(proxy, sim, **api))
    return Client(cfg.api, cfg.auth, sleep=lambda seconds: None)


def test_a_wire_size_is_checked_from_the_header_and_while_streaming() -> None:
    with upstream() as (sim, proxy):
        cid = sim.customer_ids[0]
        client = client_for(sim, proxy, max_response_size="1MiB")
        proxy.add(jobs_route(cid), Respond(200, empty_objects(2)))  # Content-Length 2 MB: refused unread
        with pytest.raises(LimitExceeded, match=r"Content-Length\) exceeds 1 MiB \(api.max_response_size\)"):
            client.jobs(cid)
        proxy.clear()
        proxy.add(jobs_route(cid), Chunked(b"{}," * 20_000, 200))  # 12 MB, no length: stopped while reading
        with pytest.raises(LimitExceeded, match=r"on the wire exceeds 1 MiB \(api.max_response_size\)"):
            client.jobs(cid)
        assert client.jobs(sim.customer_ids[1])  # the next request is served as usual
        client.close()


def test_a_pages_of_one_list_share_one_budget() -> None:
    """An endless chain of 1 MB pages ends at api.max_decoded_size, not after 1,000 pages of 1 MB each."""
    with upstream() as (sim, proxy):
        proxy.add(r"^/partner/customers$", EndlessLinks(padding=10**6), method="GET")
        client = client_for(sim, proxy, max_decoded_size="8MiB")
        with pytest.raises(LimitExceeded, match=r"more than 8 MiB \(api.max_decoded_size"):
            client.customers()
        assert proxy.counts()["/partner/customers"] <= 9
        client.close()


def test_a_limits_are_config_keys_with_sizes() -> None:
    mapping: dict[str, Any] = {"auth": {"client_id": "x", "client_secret": "y"}}
    cfg = config.from_mapping(mapping)
    assert (cfg.api.max_response_size, cfg.api.max_decoded_size) == (16 * 2**20, 32 * 2**20)
    assert (cfg.api.max_json_values, cfg.api.max_pages, cfg.jobs.max_per_customer) == (1_000_000, 1000, 25_000)
    env = {"AVEPOINT_API_MAX_DECODED_SIZE": "1GiB", "AVEPOINT_JOBS_MAX_PER_CUSTOMER": "100000"}
    cfg = config.from_mapping({**mapping, "api": {"max_response_size": "512KB"}}, env=env)
    assert (cfg.api.max_response_size, cfg.api.max_decoded_size) == (512_000, 2**30)
    assert cfg.jobs.max_per_customer == 100_000
    for key, bad in (("max_response_size", "0"), ("max_decoded_size", "lots"), ("max_response_size", True)):
        with pytest.raises(ConfigError, match=f"api.{key}: must be a positive size"):
            config.from_mapping({**mapping, "api": {key: bad}})
    for key, section in (("max_pages", "api"), ("max_json_values", "api"), ("max_per_customer", "jobs")):
        with pytest.raises(ConfigError, match=f"{section}.{key}: must be at least 1"):
            config.from_mapping({**mapping, section: {key: 0}})


def maximal_allowed_body() -> bytes:
    """Real-looking job rows, as many as api.max_json_values lets through to json.loads (24.8 MiB inflated)."""
    return job_rows(62_000)


def test_a_health_check_answers_while_big_bodies_are_parsed(tmp_path: Path) -> None:
    """The exporter's /-/healthy answers within 1 s while its refresher parses maximal allowed bodies and
    meets a bomb of small integers (150 MB inflated; json.loads of it held the GIL for 3.5 s)."""
    allowed = maximal_allowed_body()
    values = allowed.count(b",") + allowed.count(b"{") + allowed.count(b"[")
    assert 24 * 2**20 < len(allowed) < 32 * 2**20 and 950_000 < values < 1_000_000
    allowed_gz = gzipped(b"", allowed, 1, b"")
    ints = gzipped(b'{"value": [', b"1,", 75_000_000, b"1]}")
    with upstream(customers=8) as (sim, proxy):
        # One bomb; every other customer the maximal allowed body, parsed one after another (some 2 s).
        second = sim.customer_ids[2]
        proxy.add(jobs_route(second), Respond(200, ints, headers=GZIP))
        proxy.add(r"^/partner/customers/[^/]+/jobs$", Respond(200, allowed_gz, headers=GZIP))
        cfg = tmp_path / "config.yml"
        cfg.write_text(json.dumps(base_mapping(proxy, sim, timeout="30s")))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [SCRIPT, "--config.file", str(cfg), "--web.listen-address", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        latencies: list[float] = []
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    healthy = requests.get(url + "/-/healthy", timeout=10)
                except requests.ConnectionError:
                    time.sleep(0.05)
                    continue
                latencies.append(time.monotonic() - started)
                assert healthy.status_code == 200
                if requests.get(url + "/-/ready", timeout=10).status_code == 200:
                    break
                time.sleep(0.02)
            metrics = requests.get(url + "/metrics", timeout=30).text
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=20)
        print(f"\n/-/healthy while parsing: {len(latencies)} answers, slowest {max(latencies or [0]):.3f} s")
        assert len(latencies) >= 10, err[-2000:]
        assert max(latencies) < 1.0, sorted(latencies)[-5:]
        for cid in sim.customer_ids:
            assert f'avepoint_refresh_success{{customer_id="{cid}",endpoint="jobs"}} 0.0' in metrics
        assert "jobs.max_per_customer" in err and "api.max_decoded_size" in err


# --- B: token lifetimes and unexpected errors ----------------------------------------------------------------


@dataclass
class Env:
    sim: Simulator
    proxy: FaultProxy
    token_proxy: FaultProxy
    clock: Clock
    refresher: Refresher
    client: Client

    def cycle(self) -> None:
        self.clock.now += TTL + 1
        cycle = self.refresher.trigger()
        assert cycle is not None
        cycle.result(timeout=60)


@contextlib.contextmanager
def env(**api: Any) -> Iterator[Env]:
    with (
        Simulator(FleetSpec(customers=3, seed=2), clock=lambda: NOW) as sim,
        FaultProxy(sim.base_url) as proxy,
        FaultProxy(sim.base_url) as token_proxy,
    ):
        mapping = base_mapping(proxy, sim, **api)
        mapping["api"]["token_url"] = token_proxy.url + "/connect/token"
        cfg = config.from_mapping(mapping)
        clock = Clock()
        client = Client(cfg.api, cfg.auth, clock=clock, sleep=lambda seconds: None)
        refresher = Refresher(cfg, client, clock=clock, wall_clock=lambda: NOW + clock.now)
        try:
            yield Env(sim, proxy, token_proxy, clock, refresher, client)
        finally:
            refresher.close()
            client.close()


def with_expires_in(value: object) -> Rewrite:
    return Rewrite(lambda body: {**body, "expires_in": value})


def test_b_a_lifetime_that_overflows_a_float_is_capped_at_a_day() -> None:
    """401 digits of expires_in raised OverflowError out of the token cache: no refresh, avepoint_up still 1."""
    with env() as e:
        e.cycle()
        e.sim.revoke_tokens()
        e.client._auth.tokens.invalidate(e.client.token())
        e.token_proxy.add(r"/connect/token$", with_expires_in(int("9" * 401)))
        e.cycle()
        snap = e.refresher.snapshot()
        assert snap.up and snap.listing.last_success == NOW + e.clock.now
        assert all(cs.attempt.success and cs.attempt.last_success == NOW + e.clock.now for cs in snap.customers)
        token = e.client._auth.tokens._token
        assert token is not None and token.expires_at <= e.clock.now + auth.MAX_LIFETIME


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), -5, True, "soon", [3600]])
def test_b_an_unusable_lifetime_fails_the_cycle_visibly(bad: object, caplog: pytest.LogCaptureFixture) -> None:
    with env() as e:
        e.cycle()
        e.sim.revoke_tokens()
        e.client._auth.tokens.invalidate(e.client.token())
        e.token_proxy.add(r"/connect/token$", with_expires_in(bad))
        caplog.clear()
        e.cycle()
        snap = e.refresher.snapshot()
        assert not snap.up
        assert snap.listing.error is not None and "expires_in" in str(snap.listing.error)
        assert all(not cs.attempt.success for cs in snap.customers)
        assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


@pytest.mark.parametrize(
    ("raw", "seconds"), [(None, 3600.0), (0, 0.0), (1.5, 1.5), ("3599", 3599.0), (10**400, 86400.0)]
)
def test_b_usable_lifetimes(raw: object, seconds: float) -> None:
    assert auth.token_lifetime(raw) == seconds


class FakeClient:
    """The ApiClient protocol, failing where told: the one thing a real upstream cannot make the code do."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.broken_listing = False
        self.broken_customer = ""

    def customers(self) -> list[Any]:
        if self.broken_listing:
            raise RuntimeError("a bug in the listing")
        return self.sim.customers

    def jobs(self, customer_id: str) -> list[Any]:
        if customer_id == self.broken_customer:
            raise KeyError("a bug for one customer")
        return self.sim.jobs(customer_id)

    def jobs_for(self, customer_id: str, job_type: str, job_module: str) -> list[Any]:
        return [r for r in self.jobs(customer_id) if (r["jobType"], r["jobModule"]) == (job_type, job_module)]

    def protected(self, customer_id: str) -> list[Any]:
        return []

    def services(self, customer_ids: list[str] | None = None) -> list[Any]:
        return []

    def scan_profiles(self, customer_id: str) -> list[Any]:
        return []

    def scan_profile_summary(self, customer_id: str, profile_id: str) -> dict[str, Any]:
        return {}

    def seats(self, customer_id: str, tenant_type: int) -> list[Any]:
        return []


@contextlib.contextmanager
def fake_refresher() -> Iterator[tuple[Refresher, FakeClient, Clock, list[str]]]:
    with Simulator(FleetSpec(customers=3, seed=2), clock=lambda: NOW) as sim:
        cfg = config.from_mapping({"auth": {"client_id": "x", "client_secret": "y"}, "cache": {"ttl": "60s"}})
        fake, clock = FakeClient(sim), Clock()
        refresher = Refresher(cfg, fake, clock=clock)
        try:
            yield refresher, fake, clock, sim.customer_ids
        finally:
            refresher.close()


def run_cycle(refresher: Refresher, clock: Clock) -> None:
    clock.now += TTL + 1
    cycle = refresher.trigger()
    assert cycle is not None
    cycle.result(timeout=30)


def test_b_an_unexpected_error_in_the_cycle_shows_as_failure(caplog: pytest.LogCaptureFixture) -> None:
    from exporter.exposition import ExpositionCache

    with fake_refresher() as (refresher, fake, clock, ids):
        run_cycle(refresher, clock)
        assert refresher.snapshot().up
        fake.broken_listing = True
        caplog.set_level(logging.ERROR)
        run_cycle(refresher, clock)
        snap = refresher.snapshot()
        assert not snap.up and snap.listing.error == INTERNAL
        assert [cs.attempt.error for cs in snap.customers] == [INTERNAL] * len(ids)
        assert all(cs.jobs for cs in snap.customers)  # the last good data stays served
        text = ExpositionCache().get(snap).body.decode()
        assert "avepoint_up 0.0" in text
        assert 'avepoint_refresh_success{customer_id="",endpoint="customers"} 0.0' in text
        for cid in ids:
            assert f'avepoint_refresh_success{{customer_id="{cid}",endpoint="jobs"}} 0.0' in text
        assert any("failed unexpectedly" in r.getMessage() and r.exc_info for r in caplog.records)
        fake.broken_listing = False
        run_cycle(refresher, clock)
        assert refresher.snapshot().up


def test_b_an_unexpected_error_for_one_customer_fails_only_it() -> None:
    with fake_refresher() as (refresher, fake, clock, ids):
        run_cycle(refresher, clock)
        fake.broken_customer = ids[1]
        run_cycle(refresher, clock)
        snap = refresher.snapshot()
        assert snap.up
        outcome = {cs.customer.id: cs.attempt for cs in snap.customers}
        assert not outcome[ids[1]].success and outcome[ids[1]].error == INTERNAL
        assert all(outcome[cid].success for cid in ids if cid != ids[1])


def check_command(tmp_path: Path, expires_in: object) -> subprocess.CompletedProcess[str]:
    with (
        Simulator(FleetSpec(customers=2, seed=2), clock=lambda: NOW) as sim,
        FaultProxy(sim.base_url) as token_proxy,
    ):
        token_proxy.add(r"/connect/token$", with_expires_in(expires_in))
        mapping = base_mapping(token_proxy, sim)
        mapping["api"].update(base_url=sim.base_url, token_url=token_proxy.url + "/connect/token")
        cfg = tmp_path / "config.yml"
        cfg.write_text(json.dumps(mapping))
        return subprocess.run([SCRIPT, "check", "--config.file", str(cfg)], capture_output=True, text=True, timeout=60)


def test_b_check_copes_with_a_huge_lifetime_and_reports_a_bad_one(tmp_path: Path) -> None:
    huge = check_command(tmp_path, int("9" * 401))
    assert "Traceback" not in huge.stderr, huge.stderr[-2000:]
    assert huge.returncode == 0 and "token: ok" in huge.stdout
    bad = check_command(tmp_path, "soon")
    assert "Traceback" not in bad.stderr, bad.stderr[-2000:]
    assert bad.returncode == 1 and "token: FAILED" in bad.stdout and "expires_in" in bad.stdout


# --- C: paging that never ends ------------------------------------------------------------------------------


@dataclass
class EndlessLinks(Behaviour):
    """An OData page whose @odata.nextLink always names a new page: page n links to page n + 1."""

    padding: int = 0
    delay: float = 0.0

    def serve(self, handler: ProxyHandler) -> None:
        page = int(parse_qs(urlsplit(handler.path).query).get("page", ["0"])[0])
        if self.delay and handler.server.stopping.wait(self.delay):
            return
        row = {"id": f"00000000-0000-4000-8000-{page:012d}", "name": f"Tenant {page}", "pad": "x" * self.padding}
        body = {"value": [row], "@odata.nextLink": f"/partner/customers?page={page + 1}"}
        handler.answer(200, json.dumps(body).encode(), [("Content-Type", "application/json")])


@dataclass
class EndlessV3Pages(Behaviour):
    """A v3 batch route claiming a billion rows and serving a new one on every page."""

    def serve(self, handler: ProxyHandler) -> None:
        page = int(parse_qs(urlsplit(handler.path).query).get("pageIndex", ["1"])[0])
        row = {"id": f"00000000-0000-4000-8000-{page:012d}", "name": f"Tenant {page}"}
        body = {"data": [row], "metadata": {"pageIndex": page, "pageSize": 100, "totalCount": 10**9}}
        handler.answer(200, json.dumps(body).encode(), [("Content-Type", "application/json")])


def test_c_an_endless_next_link_chain_fails_the_listing_at_max_pages(caplog: pytest.LogCaptureFixture) -> None:
    """Each link new, forever: 10,000 pages (17 minutes at 10 requests/s) before; now api.max_pages (1,000)."""
    with env() as e:
        e.cycle()
        e.proxy.reset_counters()
        e.proxy.add(r"^/partner/customers$", EndlessLinks(), method="GET")
        caplog.set_level(logging.WARNING)
        caplog.clear()
        started = time.monotonic()
        e.cycle()
        elapsed = time.monotonic() - started
        snap = e.refresher.snapshot()
        assert not snap.up
        assert snap.listing.error is not None and "after 1000 pages (api.max_pages)" in str(snap.listing.error)
        assert e.proxy.counts()["/partner/customers"] == 1000
        assert elapsed < 30
        (line,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert line.endpoint == EP_CUSTOMERS and "api.max_pages" in line.error  # type: ignore[attr-defined]
        assert all(cs.jobs for cs in snap.customers)  # the last known list and data stay


def test_c_paging_has_a_deadline() -> None:
    with upstream() as (sim, proxy):
        proxy.add(r"^/partner/customers$", EndlessLinks(delay=0.05), method="GET")
        client = client_for(sim, proxy, paging_timeout="1s")
        started = time.monotonic()
        with pytest.raises(LimitExceeded, match=r"did not end within 1s, after \d+ pages \(api.paging_timeout\)"):
            client.customers()
        assert time.monotonic() - started < 3
        assert proxy.counts()["/partner/customers"] < 40
        client.close()


def test_c_v3_paging_has_the_same_bounds() -> None:
    with Simulator(FleetSpec(customers=3, seed=2), clock=lambda: NOW) as sim, FaultProxy(sim.base_url) as proxy:
        proxy.add(r"/customers/batch$", EndlessV3Pages(), method="POST")
        mapping = base_mapping(proxy, sim, version="v3", max_pages=40)
        cfg = config.from_mapping(mapping)
        client = Client(cfg.api, cfg.auth, sleep=lambda seconds: None)
        with pytest.raises(LimitExceeded, match=r"after 40 pages \(api.max_pages\)") as info:
            client.customers()
        assert info.value.endpoint == EP_V3_CUSTOMERS
        assert proxy.counts()[EP_V3_CUSTOMERS] == 40
        client.close()


def test_c_a_repeated_link_is_still_caught() -> None:
    with upstream() as (sim, proxy):
        body = {"value": [{"id": "c1"}], "@odata.nextLink": "/partner/customers"}
        proxy.add(r"^/partner/customers$", Respond(200, json.dumps(body).encode()), method="GET")
        client = client_for(sim, proxy)
        with pytest.raises(ResponseFormatError, match="nextLink loops"):
            client.customers()
        assert proxy.counts()["/partner/customers"] == 1
        client.close()


# --- the figures --------------------------------------------------------------------------------------------

ATTACKS: dict[str, Callable[[], Behaviour]] = {
    "gzip bomb (250 MB inflated)": lambda: Respond(200, gzip_bomb(), headers=GZIP),
    "100 MB of {} rows": lambda: Respond(200, empty_objects(100)),
    "100 MB of {}, chunked (no Content-Length)": lambda: Chunked(b"{}," * 100_000, 333),
    "1e6 job rows for one customer (100 B each)": lambda: Respond(200, job_rows(1_000_000, compact=True)),
    "15 MB of {} rows (within byte caps)": lambda: Respond(200, empty_objects(15)),
    "30,000 job rows (within byte caps)": lambda: Respond(200, job_rows(30_000)),
    "62,000 job rows, gzip (the most json.loads may build)": lambda: Respond(
        200, gzipped(b"", maximal_allowed_body(), 1, b""), headers=GZIP
    ),
    "25,000 job rows (accepted: the largest customer allowed)": lambda: Respond(200, job_rows(25_000)),
}
# Served to every customer at once.
ALL_AT_ONCE: dict[str, Callable[[], Behaviour]] = {
    "62,000 job rows, gzip, to all 8 customers at once": lambda: Respond(
        200, gzipped(b"", maximal_allowed_body(), 1, b""), headers=GZIP
    ),
}


def figures() -> None:
    """Peak RSS of the refresher process under each attack (no address-space cap: the real figure)."""
    for name, make in {**ATTACKS, **ALL_AT_ONCE}.items():
        behaviour = make()
        route = r"^/partner/customers/[^/]+/jobs$" if name in ALL_AT_ONCE else None

        def attack(proxy: FaultProxy, victim: str, behaviour: Behaviour = behaviour, route: str | None = route) -> None:
            proxy.add(route or jobs_route(victim), behaviour)

        report = run_child(attack, as_limit=None, customers=8 if route else 3)
        victim = report["customers"][report["victim"]]
        print(
            f"{name}: peak RSS {peak_mib(report)} MiB, cycle {report['seconds']} s,"
            f" victim success={victim['success']} error={victim['error']!r}",
            flush=True,
        )


if __name__ == "__main__":
    figures()
