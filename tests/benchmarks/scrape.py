"""Cold and warm /metrics timings against the simulator on loopback.

    .venv/bin/python -m tests.benchmarks.scrape --customers 200 --latency 0.05

Cold: the first scrape, which waits for the full refresh (listing + one jobs request per customer).
Warm: scrapes while all data is fresh (gzip, as Prometheus asks), median and p99.
Figures are machine-dependent: compare runs of this script on one machine, not across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import requests
from prometheus_client import CollectorRegistry

from exporter import config
from exporter.client import Client
from exporter.refresh import Refresher
from exporter.server import App, Server, serve_in_thread
from exporter.simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, FleetSpec, Simulator
from exporter.telemetry import Telemetry


def run(customers: int, jobs: int | None, latency: float, concurrency: int, warm_scrapes: int) -> dict[str, float]:
    with Simulator(FleetSpec(customers=customers, seed=1, jobs_per_customer=jobs)) as sim:
        sim.faults.latency = latency
        cfg = config.from_mapping(
            {
                "api": {
                    "base_url": sim.base_url,
                    "token_url": sim.token_url,
                    "max_concurrency": concurrency,
                    "max_requests_per_second": 10_000,
                },
                "auth": {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET},
                "cache": {"ttl": "1h", "max_scrape_wait": "10m"},
            }
        )
        registry = CollectorRegistry()
        telemetry = Telemetry(registry)
        refresher = Refresher(cfg, Client(cfg.api, cfg.auth, observe=telemetry.observe_request))
        server = Server(("127.0.0.1", 0), App(lambda: refresher, registry, telemetry))
        serve_in_thread(server)
        session = requests.Session()
        headers = {"Accept-Encoding": "gzip"}
        try:
            started = time.perf_counter()
            first = session.get(server.url + "/metrics", headers=headers, timeout=600)
            cold = time.perf_counter() - started
            samples = sum(1 for line in first.text.splitlines() if line and not line.startswith("#"))
            warm: list[float] = []
            for _ in range(warm_scrapes):
                started = time.perf_counter()
                session.get(server.url + "/metrics", headers=headers, timeout=60).raise_for_status()
                warm.append(time.perf_counter() - started)
        finally:
            server.shutdown()
            server.server_close()
            refresher.close()
        requests_made = sum(sim.requests.values())
        warm.sort()
        return {
            "customers": customers,
            "jobs": sum(1 for line in first.text.splitlines() if line.startswith("avepoint_backup_job_status{")),
            "samples": samples,
            "upstream_requests": requests_made,
            "cold_seconds": cold,
            "ideal_cold_seconds": (customers + 1) * latency / concurrency,
            "warm_median_seconds": statistics.median(warm),
            "warm_p99_seconds": warm[min(len(warm) - 1, int(len(warm) * 0.99))],
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--customers", type=int, default=200)
    p.add_argument("--jobs-per-customer", type=int, default=None)
    p.add_argument("--latency", type=float, default=0.05, help="simulated upstream latency per request (s)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--warm-scrapes", type=int, default=100)
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args()
    result = run(args.customers, args.jobs_per_customer, args.latency, args.concurrency, args.warm_scrapes)
    result["cores"] = os.cpu_count() or 0
    for key, value in result.items():
        print(f"{key:22} {value:.4f}" if isinstance(value, float) else f"{key:22} {value}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
