"""Refresh spreading at fleet scale: requests per second over three TTLs, before (plain TTL) and after (slots).

    .venv/bin/python -m tests.benchmarks.spread                      # 10,000 customers, TTL 60 s, 250/s
    .venv/bin/python -m tests.benchmarks.spread --customers 2000 --ttl 20 --limit 200

The upstream is the simulator in its own process, enforcing a per-client rate limit (429 past it) equal
to the exporter's `api.max_requests_per_second`. A real Refresher and Client (in this process) refresh
the fleet while a scraper asks for data every `--scrape-interval` seconds, as Prometheus would; every
request's answer is counted by second (the Client's observer). "before" is the plain TTL scheduling
(`Refresher(spread=False)`), "after" the slots; both run in turn, printed side by side: per tenth of each
TTL after the first cycle, the min / mean / max of the per-second request counts, and the 429s.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from exporter import config
from exporter.refresh import Refresher
from exporter.upstream import Client
from tests.benchmarks.bench import simulator_process


@dataclass
class Run:
    label: str
    first_cycle_seconds: float = 0.0
    first_cycle_429: int = 0
    per_second: list[int] = field(default_factory=list)  # from the end of the first cycle on
    after_429: int = 0
    steady_429: int = 0  # from one TTL after the first cycle on
    oldest: float = 0.0  # the oldest data any scrape saw, seconds


def run(label: str, spread: bool, args: argparse.Namespace) -> Run:
    out = Run(label)
    answers: list[tuple[float, int]] = []
    lock = threading.Lock()

    def observe(endpoint: str, code: str, seconds: float) -> None:
        with lock:
            answers.append((time.monotonic(), int(code) if code.isdigit() else 0))

    with simulator_process(args.customers, jobs_per_customer=args.jobs_per_customer, rate_limit=args.limit) as base_url:
        cfg = config.from_mapping(
            {
                "api": {
                    "base_url": base_url,
                    "token_url": f"{base_url}/connect/token",
                    "max_requests_per_second": args.limit,
                    "max_concurrency": args.concurrency,
                },
                "auth": {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET},
                "cache": {"ttl": f"{args.ttl:g}s"},
            }
        )
        client = Client(cfg.api, cfg.auth, observe=observe)
        refresher = Refresher(cfg, client, spread=spread)
        try:
            started = time.monotonic()
            first = refresher.trigger()
            assert first is not None
            first.result(timeout=3600)
            settled = time.monotonic()
            out.first_cycle_seconds = settled - started
            end = settled + 3 * args.ttl
            while (now := time.monotonic()) < end:
                snap = refresher.snapshot_within(0.0)
                wall = time.time()
                out.oldest = max(out.oldest, *(wall - (c.attempt.last_success or wall) for c in snap.customers))
                time.sleep(min(args.scrape_interval, max(end - now, 0.0)))
        finally:
            refresher.close()
            client.close()
    with lock:
        done = list(answers)
    out.first_cycle_429 = sum(1 for t, code in done if t < settled and code == 429)
    out.after_429 = sum(1 for t, code in done if settled <= t < end and code == 429)
    out.steady_429 = sum(1 for t, code in done if settled + args.ttl <= t < end and code == 429)
    seconds = Counter(int(t - settled) for t, _ in done if settled <= t < end)
    out.per_second = [seconds.get(i, 0) for i in range(int(3 * args.ttl))]
    return out


def table(before: Run, after: Run, ttl: float) -> str:
    tenth = ttl / 10
    lines = [
        f"first cycle: before {before.first_cycle_seconds:.1f} s ({before.first_cycle_429} x 429), "
        f"after {after.first_cycle_seconds:.1f} s ({after.first_cycle_429} x 429)",
        "requests per second, per tenth of a TTL after the first cycle: min / mean / max",
        f"{'TTL.tenth':>9}  {'before':>17}  {'after':>17}",
    ]
    for i in range(30):
        cells = []
        for r in (before, after):
            window = r.per_second[int(i * tenth) : int((i + 1) * tenth)]
            if not window:
                cells.append(f"{'-':>17}")
                continue
            cells.append(f"{min(window):>5} {sum(window) / len(window):>5.0f} {max(window):>5}")
        lines.append(f"{i // 10 + 1:>7}.{i % 10}  {cells[0]}  {cells[1]}")
    for r in (before, after):
        whole = r.per_second
        lines.append(
            f"{r.label}: {sum(whole)} requests in 3 TTLs, per second min {min(whole)} max {max(whole)}, "
            f"429s: {r.after_429} after the first cycle, {r.steady_429} from a TTL later on; "
            f"oldest data seen {r.oldest:.1f} s"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.spread", description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--jobs-per-customer", type=int, default=2)
    parser.add_argument("--ttl", type=float, default=60.0, help="cache.ttl, seconds")
    parser.add_argument("--limit", type=float, default=250.0, help="requests per second: client and simulator")
    parser.add_argument("--concurrency", type=int, default=8, help="api.max_concurrency")
    parser.add_argument("--scrape-interval", type=float, default=15.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # 429s past the retries are the point, not news
    before = run("before", False, args)
    after = run("after", True, args)
    print(
        f"{args.customers} customers, TTL {args.ttl:g} s, limit {args.limit:g}/s (client and simulator), "
        f"scrapes every {args.scrape_interval:g} s"
    )
    print(table(before, after, args.ttl))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
