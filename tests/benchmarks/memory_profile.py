"""Where the exporter's bytes are: tracemalloc over a refreshed, scraped exporter, grouped by what keeps them.

    .venv/bin/python -m tests.benchmarks.memory_profile --customers 1000 [--jobs-per-customer 20]

The exporter's parts are wired in this process as runtime.py wires them (refresher, app, status page), against
the simulator in a child process (its memory is not counted). After a full refresh it is scraped as Prometheus
would (gzip, classic and OpenMetrics), and asked for the status page, the JSON and one /probe; then the memory
still allocated is grouped by the module that allocated it (the line of the caller inside exporter/ for
allocations of the standard library or prometheus_client). Python's own accounting, not RSS.
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc
from collections import Counter
from pathlib import Path

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from exporter import config
from exporter.exposition import Telemetry
from exporter.refresh import Refresher
from exporter.upstream import Client
from exporter.web import App
from tests.benchmarks.bench import simulator_process

ROOT = str(Path(__file__).resolve().parents[2])


def area(tb: tracemalloc.Traceback) -> str:
    """The innermost frame inside this project's exporter package: who keeps the bytes."""
    ours = [f for f in reversed(tb) if "/exporter/" in f.filename and f.filename.startswith(ROOT)]
    return " < ".join(f"{f.filename.split('/exporter/', 1)[1]}:{f.lineno}" for f in ours[:2]) or "(outside exporter)"


def profile(customers: int, jobs_per_customer: int, tmp: Path) -> tuple[int, list[tuple[str, int]]]:
    with simulator_process(customers, jobs_per_customer=jobs_per_customer) as base_url:
        (tmp / "secret").write_text(DEMO_CLIENT_SECRET)
        (tmp / "config.yml").write_text(
            f"api: {{base_url: '{base_url}', token_url: '{base_url}/connect/token', max_requests_per_second: 100000}}\n"
            f"auth: {{client_id: '{DEMO_CLIENT_ID}', client_secret_file: secret}}\n"
            "cache: {ttl: 1h, max_scrape_wait: 10m}\n"
        )
        cfg = config.load(str(tmp / "config.yml"), {})
        tracemalloc.start(12)
        gc.collect()
        base = tracemalloc.take_snapshot()
        from prometheus_client import CollectorRegistry, ProcessCollector

        registry = CollectorRegistry(auto_describe=True)
        telemetry = Telemetry(registry)
        ProcessCollector(registry=registry)
        refresher = Refresher(cfg, Client(cfg.api, cfg.auth, env={}, observe=telemetry.observe_request))
        app = App(lambda: refresher, registry, telemetry)
        refresher.after_cycle(app.prerender)
        refresher.snapshot_within(600)
        for accept in (None, "application/openmetrics-text; version=1.0.0"):
            app.metrics(None, "gzip", accept)
        app.metrics(None, "")
        app.landing("gzip")
        app.status_json()
        first = refresher.snapshot().customers[0].customer.id
        app.probe(f"customer_id={first}", None, "gzip")
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        by_area: Counter[str] = Counter()
        total = 0
        for stat in after.compare_to(base, "traceback"):
            by_area[area(stat.traceback)] += stat.size_diff
            total += stat.size_diff
        refresher.close()
        return total, by_area.most_common(40)


def main(argv: list[str] | None = None) -> int:
    import tempfile

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--customers", type=int, default=1000)
    p.add_argument("--jobs-per-customer", type=int, default=20)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        total, rows = profile(args.customers, args.jobs_per_customer, Path(tmp))
    jobs = args.customers * args.jobs_per_customer
    print(f"{jobs} jobs: {total / 2**20:.1f} MiB allocated and kept, {total / jobs:.0f} bytes per job")
    for name, size in rows:
        print(f"  {size / 2**20:8.2f} MiB {size / jobs:8.0f} B/job  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
