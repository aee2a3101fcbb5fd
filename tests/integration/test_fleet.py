"""200 customers, 5% of upstream requests failing: data kept, failures shown exactly, deadlines held."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from avepoint_simulator import FleetSpec, Simulator
from exporter.exposition.telemetry import Telemetry
from exporter.refresh import Refresher
from exporter.upstream import Client
from exporter.web import App, Server, serve_in_thread
from tests.support.harness import Clock, make_config

CUSTOMERS = 200
SCRAPE_TIMEOUT = 2.0


@pytest.fixture
def fleet() -> Iterator[tuple[Simulator, Server, Refresher, Clock]]:
    with Simulator(FleetSpec(customers=CUSTOMERS, seed=21), fault_seed=4) as sim:
        # No retries, so every injected fault shows; a timeout fault sleeps far past our timeout.
        cfg = make_config(sim, api={"retries": 0, "timeout": "1s", "max_concurrency": 16}, cache={"ttl": "1m"})
        # The cache's clock is ours: each round of the test is exactly one refresh cycle.
        clock = Clock()
        registry = CollectorRegistry()
        telemetry = Telemetry(registry)
        refresher = Refresher(cfg, Client(cfg.api, cfg.auth, observe=telemetry.observe_request), clock=clock)
        server = Server(("127.0.0.1", 0), App(lambda: refresher, registry, telemetry))
        serve_in_thread(server)
        try:
            yield sim, server, refresher, clock
        finally:
            server.shutdown()
            server.server_close()
            refresher.close()


def scrape(server: Server) -> tuple[float, dict[str, list[dict[str, str]]], dict[tuple[str, str], float]]:
    started = time.monotonic()
    response = requests.get(
        server.url + "/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": str(SCRAPE_TIMEOUT)}, timeout=30
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    series: dict[str, list[dict[str, str]]] = {}
    success: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            series.setdefault(s.name, []).append(s.labels)
            if s.name == "avepoint_refresh_success":
                success[(s.labels["customer_id"], s.labels["endpoint"])] = s.value
    return elapsed, series, success


def test_flaky_upstream_keeps_data_and_names_exactly_the_failures(
    fleet: tuple[Simulator, Server, Refresher, Clock],
) -> None:
    sim, server, refresher, clock = fleet
    trigger = refresher.trigger()
    assert trigger is not None
    trigger.result(timeout=60)  # a clean warm-up: every customer's data is held once
    sim.faults.error_rate = 0.05
    sim.faults.timeout_sleep = 20.0
    failures_seen = 0
    for _ in range(3):
        clock.now += 61  # the TTL passes: the next scrape refreshes everything
        sim.reset_counters()
        elapsed, series, _ = scrape(server)
        assert elapsed <= SCRAPE_TIMEOUT + 0.5, f"scrape took {elapsed:.2f}s"
        cycle = refresher.trigger()
        if cycle is not None:
            cycle.result(timeout=60)
        # What the simulator answered for each customer in this cycle (one request each, no retries);
        # a request still sleeping in a timeout fault has no entry yet.
        answered = {path.split("/")[3]: status for _, _, path, status in sim.request_log if path.endswith("/jobs")}
        expected_failed = {cid for cid in sim.customer_ids if answered.get(cid) != 200}
        _, series, success = scrape(server)
        failed = {cid for (cid, endpoint), v in success.items() if endpoint == "jobs" and v == 0}
        assert failed == expected_failed
        failures_seen += len(failed)
        # Every customer keeps its job series, failing or not.
        with_jobs = {labels["customer_id"] for labels in series["avepoint_backup_job_status"]}
        assert with_jobs == set(sim.customer_ids)
    # 5% of ~600 requests: the faults really happened (and were not all retried away).
    assert failures_seen >= 10
