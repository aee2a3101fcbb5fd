"""Refresh spreading at fleet scale: requests per second over three TTLs, plain TTL against slots, old and new limiter.

    .venv/bin/python -m tests.benchmarks.spread                      # 10,000 customers, TTL 60 s, 250/s
    .venv/bin/python -m tests.benchmarks.spread --customers 3000 --ttl 20 --limit 100 --load 8

The upstream is the simulator in its own process, enforcing a per-client rate limit over a sliding second
(429 past it) equal to the exporter's `api.max_requests_per_second`. A real Refresher and Client (in this
process) refresh the fleet while a scraper asks for data every `--scrape-interval` seconds, as Prometheus
would; every attempt's answer is counted by second (the Client's observer). Three runs, in turn:
  before  the plain TTL scheduling (`Refresher(spread=False)`)
  burst   the slots, with the former rate limiter swapped into the Client (BurstLimiter: a GCRA allowing a
          burst of `api.max_concurrency`; the baseline of the limiter without a burst, not product code)
  after   the slots with the Client as it is
printed side by side: per tenth of each TTL after the first cycle, the min / mean / max of the per-second
request counts; the 429s after the first cycle and from a TTL later on; the most requests the client itself
started within one sliding second, and the 429s the simulator's rule would give those start times (when
they are 0 and the simulator still refused some, the arrivals bunched on the way: jitter, not the client's
pacing). `--load N` keeps N processes spinning on a CPU through all runs (stopped at the end, also on
Ctrl-C or an error; each also stops by itself once this process is gone), so a heavily loaded machine is
reproducible; the load average is printed before and after each run. `--runs` picks some of the three,
in order, and may add `exact`: "after" with the Client's limiter spacing starts at exactly the limit, without
the product's headroom (limits.HEADROOM), whose jittered starts a strict upstream refuses now and then.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from exporter import config
from exporter.refresh import Refresher
from exporter.upstream import Client, RateLimiter
from tests.benchmarks.bench import simulator_process

RUNS = ("before", "burst", "after")
# A spinning process: Ctrl-C kills it quietly (SIG_DFL, no traceback), and it checks every few
# milliseconds whether its parent is still the benchmark, so it cannot outlive a benchmark killed hard.
SPIN = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
parent = int(sys.argv[1])  # passed, not read here: the parent may be gone before this process runs
while os.getppid() == parent:
    for _ in range(100_000):
        pass
"""


class BurstLimiter:
    """The client's former rate limiter, the "burst" run's baseline: a GCRA spacing starts 1/`rate` apart
    but letting `burst` of them start at once, so up to rate + burst - 1 fit into one sliding second."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / rate
        self._tolerance = (max(burst, 1) - 1) * self._interval
        self._clock, self._sleep = clock, sleep
        self._tat = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            tat = max(self._tat, now)
            wait = tat - self._tolerance - now
            self._tat = tat + self._interval
        if wait > 0:
            self._sleep(wait)


@contextmanager
def busy(count: int, python: str = sys.executable) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` processes spinning on a CPU while the block runs; all stopped when it ends, however it ends."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            procs.append(subprocess.Popen([python, "-c", SPIN, str(os.getpid())], stdin=subprocess.DEVNULL))
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        deadline = time.monotonic() + 5.0
        for proc in procs:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5.0)


def refused(starts: Sequence[float], rate: float) -> list[float]:
    """Those of `starts` (sorted) the simulator's rule would refuse: a sliding second holding at most
    int(rate) accepted requests, refused ones not counted (avepoint_simulator/faults.py, _client_limited)."""
    allowed, window, out = max(int(rate), 1), deque[float](), []
    for t in starts:
        while window and window[0] <= t - 1.0:
            window.popleft()
        if len(window) >= allowed:
            out.append(t)
        else:
            window.append(t)
    return out


def busiest_second(starts: Sequence[float]) -> int:
    """The most of `starts` (sorted) within any sliding second."""
    most, first = 0, 0
    for i, t in enumerate(starts):
        while starts[first] <= t - 1.0:
            first += 1
        most = max(most, i - first + 1)
    return most


@dataclass
class Run:
    label: str
    first_cycle_seconds: float = 0.0
    first_cycle_429: int = 0
    per_second: list[int] = field(default_factory=list)  # from the end of the first cycle on
    after_429: int = 0
    steady_429: int = 0  # from one TTL after the first cycle on
    oldest: float = 0.0  # the oldest data any scrape saw, seconds
    busiest: int = 0  # the most requests the client started within one sliding second, after the first cycle
    replayed_429: int = 0  # what the simulator's rule gives the client's own start times, after the first cycle
    first_busiest: int = 0  # the same two in the first cycle
    first_replayed_429: int = 0
    load: tuple[float, float] = (0.0, 0.0)  # the 1-minute load average before and after the run


def run(label: str, base_url: str, args: argparse.Namespace) -> Run:
    out = Run(label)
    answers: list[tuple[float, float, int]] = []  # (sent, answered, status) on the monotonic clock
    lock = threading.Lock()
    load_before = os.getloadavg()[0]

    def observe(endpoint: str, code: str, seconds: float) -> None:
        now = time.monotonic()
        with lock:
            answers.append((now - seconds, now, int(code) if code.isdigit() else 0))

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
    if label == "burst":
        # The transport calls acquire() before every attempt; nothing else of the Client changes.
        client._transport._limiter = BurstLimiter(args.limit, args.concurrency)  # type: ignore[assignment]
    elif label == "exact":
        client._transport._limiter = RateLimiter(args.limit, headroom=1.0)
    refresher = Refresher(cfg, client, spread=label != "before")
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
        done = sorted(answers)
    out.load = (load_before, os.getloadavg()[0])
    out.first_cycle_429 = sum(1 for _, t, code in done if t < settled and code == 429)
    out.after_429 = sum(1 for _, t, code in done if settled <= t < end and code == 429)
    out.steady_429 = sum(1 for _, t, code in done if settled + args.ttl <= t < end and code == 429)
    seconds = Counter(int(t - settled) for _, t, _ in done if settled <= t < end)
    out.per_second = [seconds.get(i, 0) for i in range(math.ceil(3 * args.ttl))]  # the last one may be partial
    # The client's own start times (after its rate limiter, before the request is sent), as the simulator
    # would count them if nothing delayed them on the way.
    starts = sorted(s for s, _, _ in done)
    replayed = refused(starts, args.limit)
    out.first_busiest = busiest_second([s for s in starts if s < settled])
    out.first_replayed_429 = sum(1 for s in replayed if s < settled)
    out.busiest = busiest_second([s for s in starts if settled <= s < end])
    out.replayed_429 = sum(1 for s in replayed if settled <= s < end)
    return out


def table(runs: Sequence[Run], ttl: float) -> str:
    tenth = ttl / 10
    first = ", ".join(
        f"{r.label} {r.first_cycle_seconds:.1f} s ({r.first_cycle_429} x 429; client at most {r.first_busiest} "
        f"in a sliding second, {r.first_replayed_429} x 429 by the simulator's rule)"
        for r in runs
    )
    lines = [
        f"first cycle: {first}",
        "requests per second, per tenth of a TTL after the first cycle: min / mean / max",
        f"{'TTL.tenth':>9}" + "".join(f"  {r.label:>17}" for r in runs),
    ]
    for i in range(30):
        cells = []
        for r in runs:
            window = r.per_second[int(i * tenth) : int((i + 1) * tenth)]
            if not window:
                cells.append(f"{'-':>17}")
                continue
            cells.append(f"{min(window):>5} {sum(window) / len(window):>5.0f} {max(window):>5}")
        lines.append(f"{i // 10 + 1:>7}.{i % 10}" + "".join(f"  {cell}" for cell in cells))
    for r in runs:
        whole = r.per_second or [0]
        lines.append(
            f"{r.label}: {sum(whole)} requests in 3 TTLs, per second min {min(whole)} max {max(whole)}, "
            f"429s: {r.after_429} after the first cycle, {r.steady_429} from a TTL later on; "
            f"oldest data seen {r.oldest:.1f} s; the client started at most {r.busiest} in a sliding second, "
            f"on which the simulator's rule gives {r.replayed_429} x 429; "
            f"load average {r.load[0]:.1f} before, {r.load[1]:.1f} after"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.spread", description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--jobs-per-customer", type=int, default=2)
    parser.add_argument("--ttl", type=float, default=60.0, help="cache.ttl, seconds")
    parser.add_argument("--limit", type=float, default=250.0, help="requests per second: client and simulator")
    parser.add_argument("--concurrency", type=int, default=8, help="api.max_concurrency (and the old burst)")
    parser.add_argument("--scrape-interval", type=float, default=15.0)
    parser.add_argument("--load", type=int, default=0, metavar="N", help="N CPU-spinning processes during all runs")
    parser.add_argument(
        "--runs", default=",".join(RUNS), help=f"which runs, in order, comma-separated (default: {','.join(RUNS)})"
    )
    args = parser.parse_args(argv)
    labels = [label.strip() for label in args.runs.split(",") if label.strip()]
    unknown = [label for label in labels if label not in (*RUNS, "exact")]
    if unknown or not labels:
        choices = ", ".join((*RUNS, "exact"))
        parser.error(f"--runs: unknown run {', '.join(unknown) or '(none given)'}; choose from {choices}")
    if args.load < 0:
        parser.error(f"--load wants 0 or more processes, got {args.load}")
    for flag, value in (
        ("--customers", args.customers),
        ("--ttl", args.ttl),
        ("--limit", args.limit),
        ("--concurrency", args.concurrency),
        ("--scrape-interval", args.scrape_interval),
    ):
        if not value > 0:
            parser.error(f"{flag} wants a number greater than 0, got {value:g}")
    logging.basicConfig(level=logging.ERROR)  # 429s past the retries are the point, not news
    # One simulator for all runs: each run's Client has a token of its own, so its own sliding second.
    with (
        busy(args.load),
        simulator_process(args.customers, jobs_per_customer=args.jobs_per_customer, rate_limit=args.limit) as url,
    ):
        runs = [run(label, url, args) for label in labels]
    print(
        f"{args.customers} customers, TTL {args.ttl:g} s, limit {args.limit:g}/s (client and simulator), "
        f"scrapes every {args.scrape_interval:g} s, {args.load} spinning processes, {os.cpu_count()} cores"
    )
    print(table(runs, args.ttl))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
