"""The HTTP server on loopback: /metrics (gzip, deadline), landing page, health, readiness, reload."""

from __future__ import annotations

import gzip
import http.client
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from avepoint_simulator import DEMO_CLIENT_SECRET, FleetSpec, Simulator
from exporter import __version__
from exporter.errors import ConfigError
from exporter.exposition.telemetry import Telemetry
from exporter.refresh import Refresher
from exporter.upstream import Client
from exporter.web import App, Server, parse_listen_address, serve_in_thread
from tests.support.harness import make_config


@dataclass
class Running:
    sim: Simulator
    server: Server
    refresher: Refresher
    reloads: list[str]

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def running() -> Iterator[Running]:
    with Simulator(FleetSpec(customers=4, seed=11)) as sim:
        cfg = make_config(sim)
        registry = CollectorRegistry()
        telemetry = Telemetry(registry)
        refresher = Refresher(cfg, Client(cfg.api, cfg.auth, observe=telemetry.observe_request))
        reloads: list[str] = []

        def reload() -> None:
            reloads.append("called")
            if len(reloads) > 1:
                raise ConfigError("config file /etc/avepoint/config.yml: jobs.bogus: unknown key")

        app = App(lambda: refresher, registry, telemetry, reload=reload, lifecycle=True)
        server = Server(("127.0.0.1", 0), app)
        serve_in_thread(server)
        try:
            yield Running(sim, server, refresher, reloads)
        finally:
            server.shutdown()
            server.server_close()
            refresher.close()


def samples(text: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s.value)
    return out


def test_metrics_plain_and_gzip_carry_the_same_samples(running: Running) -> None:
    plain = requests.get(running.url + "/metrics", headers={"Accept-Encoding": "identity"}, timeout=10)
    assert plain.status_code == 200
    assert plain.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "Content-Encoding" not in plain.headers
    host, port = running.server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
    conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
    response = conn.getresponse()
    raw = response.read()
    assert response.getheader("Content-Encoding") == "gzip"
    text = gzip.decompress(raw).decode()
    # One gzip member: decoders that stop after the first (curl, zlib's gzip mode) read it all.
    decoder = zlib.decompressobj(wbits=31)
    assert decoder.decompress(raw).decode() == text and decoder.eof and not decoder.unused_data
    data_plain = {k: v for k, v in samples(plain.text).items() if k.startswith("avepoint_backup")}
    assert data_plain == {k: v for k, v in samples(text).items() if k.startswith("avepoint_backup")}
    got = samples(text)
    assert len(got["avepoint_customer_info"]) == 4
    assert got["avepoint_up"] == [1.0]
    assert got["avepoint_exporter_build_info"] == [1.0]
    assert "avepoint_api_requests_total" in got and "avepoint_scrape_duration_seconds" in got


def test_scrape_returns_by_the_prometheus_deadline(running: Running) -> None:
    running.sim.faults.latency = 5.0
    started = time.monotonic()
    response = requests.get(running.url + "/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "1"}, timeout=10)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 1.0 + 0.5, elapsed
    assert "avepoint_up 0.0" in response.text  # nothing fetched yet, and it says so


def test_malformed_deadline_header_falls_back_to_the_config(running: Running) -> None:
    response = requests.get(
        running.url + "/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "soon"}, timeout=15
    )
    assert response.status_code == 200
    assert "avepoint_up 1.0" in response.text


def test_landing_page_links_and_counts_without_secrets(running: Running) -> None:
    requests.get(running.url + "/metrics", timeout=10)
    page = requests.get(running.url + "/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for link in ('href="metrics"', 'href="-/healthy"', 'href="-/ready"'):
        assert link in page.text
    assert __version__ in page.text and "Customers: 4" in page.text
    assert DEMO_CLIENT_SECRET not in page.text


def test_ready_only_after_the_first_refresh(running: Running) -> None:
    assert requests.get(running.url + "/-/healthy", timeout=10).status_code == 200
    assert requests.get(running.url + "/-/ready", timeout=10).status_code == 503
    requests.get(running.url + "/metrics", timeout=10)
    assert requests.get(running.url + "/-/ready", timeout=10).status_code == 200


def test_reload_needs_post_and_reports_failure(running: Running) -> None:
    assert requests.get(running.url + "/-/reload", timeout=10).status_code == 405
    ok = requests.post(running.url + "/-/reload", timeout=10)
    assert ok.status_code == 200
    bad = requests.post(running.url + "/-/reload", timeout=10)
    # The answer names no path and no key; the exporter's log has them.
    assert bad.status_code == 500 and bad.text == "reload failed, old config kept; see the exporter's log\n"
    assert running.reloads == ["called", "called"]


def test_unknown_paths_and_head(running: Running) -> None:
    assert requests.get(running.url + "/nope", timeout=10).status_code == 404
    assert requests.post(running.url + "/metrics", timeout=10).status_code == 405
    head = requests.head(running.url + "/-/healthy", timeout=10)
    assert head.status_code == 200 and head.text == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [(":9877", ("0.0.0.0", 9877)), ("127.0.0.1:0", ("127.0.0.1", 0)), ("[::1]:9877", ("::1", 9877))],
)
def test_listen_address(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(value) == expected


@pytest.mark.parametrize("value", ["9877", "host:", "host:99999", ""])
def test_bad_listen_address(value: str) -> None:
    with pytest.raises(ConfigError, match=r"--web\.listen-address"):
        parse_listen_address(value)


def test_probe_serves_one_customer_from_the_shared_cache(running: Running) -> None:
    requests.get(running.url + "/metrics", timeout=10)
    before = sum(running.sim.requests.values())
    cid = running.sim.customer_ids[1]
    response = requests.get(running.url + "/probe", params={"customer_id": cid}, timeout=10)
    assert response.status_code == 200
    customers = {
        s.labels.get("customer_id")
        for f in text_string_to_metric_families(response.text)
        for s in f.samples
        if "customer_id" in s.labels
    }
    assert customers == {cid}
    assert "avepoint_up 1.0" in response.text and "avepoint_backup_job_status{" in response.text
    assert sum(running.sim.requests.values()) == before  # served from the cache /metrics filled
    gz = requests.get(
        running.url + "/probe", params={"customer_id": cid}, headers={"Accept-Encoding": "gzip"}, timeout=10
    )
    assert gz.headers["Content-Encoding"] == "gzip" and gz.text == response.text


@pytest.mark.parametrize(("query", "status"), [("", 400), ("customer_id=", 400), ("customer_id=nobody", 404)])
def test_probe_refuses_bad_targets(running: Running, query: str, status: int) -> None:
    response = requests.get(running.url + "/probe?" + query, timeout=10)
    assert response.status_code == status
    assert "customer" in response.text


def test_the_exposition_is_encoded_in_the_refresh_thread_not_the_scrape(running: Running) -> None:
    app = running.server.app
    running.refresher.after_cycle(app.prerender)
    trigger = running.refresher.trigger()
    assert trigger is not None
    trigger.result(timeout=30)
    snap = running.refresher.snapshot()
    cache = app._cache  # the scrape below must find it built
    assert cache._current is not None and cache._current.generation == snap.generation
    built = cache._current
    requests.get(running.url + "/metrics", timeout=10)
    assert cache._current is built
