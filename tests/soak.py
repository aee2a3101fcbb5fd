"""Load and soak: the real console script, 50 concurrent scrapers, an upstream failing 10% of the time.

The exporter runs as a subprocess (`avepoint-backup-exporter` beside this Python) against the simulator,
with a fault proxy in between that notes when every upstream request arrives. For the whole run, 50
threads scrape `/metrics` on loopback as fast as answers come (half of them asking for gzip, all sending
Prometheus' scrape-timeout header), while the simulator fails 10% of the requests (500/502/503/504, 429
with and without Retry-After, answers slower than the exporter's timeout) and the short `cache.ttl` keeps
the exporter refreshing all the time. Checked at the end:

- no exporter answer is a 5xx (or anything but 200), and every body parses as Prometheus text (see
  `Validator` for how that stays cheap);
- the exporter's resident memory (VmRSS from /proc) after a warm-up (the first quarter) does not grow:
  the mean of the last third stays within 10% of the mean of the first third;
- upstream requests never outrun `api.max_requests_per_second`: the whole run's rate, and every 5 s
  window (the limiter spaces starts evenly at 0.9 of the rate, with no burst: rate x 5 s, plus one start a thread's
  late wake-up (well under the 222 ms spacing) carries into the window from before it);
- the exporter is still running, and stops cleanly on SIGTERM.

`tests/integration/test_soak.py` runs it for 20 s as part of the test suite. For a longer run:

    .venv/bin/python -m tests.soak --seconds 60            # the issue's 60 s
    .venv/bin/python -m tests.soak --seconds 600 --clients 100

It prints the figures as JSON and exits 1 if a check fails (0 otherwise).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, FleetSpec, Simulator
from tests.support import ROOT, free_port
from tests.support.faultproxy import FaultProxy

SCRIPT = str(Path(sys.executable).parent / "avepoint-backup-exporter")
CUSTOMERS = 12
MAX_RPS = 5.0  # low enough that the exporter, refreshing all the time, meets the limit
MAX_CONCURRENCY = 4
WINDOW = 5.0
ERROR_RATE = 0.10
MEMORY_GROWTH = 0.10


@dataclass
class Result:
    seconds: float
    clients: int
    scrapes: int = 0
    scrapes_per_second: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    unparseable: int = 0
    client_errors: int = 0  # connection errors or timeouts on the scraping side
    latency_p50: float = 0.0
    latency_p99: float = 0.0
    latency_max: float = 0.0
    rss_mb: list[float] = field(default_factory=list)
    rss_first_third_mb: float = 0.0
    rss_last_third_mb: float = 0.0
    upstream_requests: int = 0
    upstream_rate: float = 0.0
    upstream_max_per_window: int = 0
    upstream_statuses: dict[str, int] = field(default_factory=dict)
    exporter_cpu_share: float = 0.0  # CPU seconds per second of the run (1.0: one core busy)
    exporter_alive: bool = False
    exporter_exit_code: int | None = None
    exporter_log_tracebacks: int = 0
    failures: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out["rss_mb"] = [round(v, 1) for v in self.rss_mb[:: max(1, len(self.rss_mb) // 20)]]  # a sketch
        return out


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def write_config(directory: Path, upstream: str) -> Path:
    (directory / "secret").write_text(DEMO_CLIENT_SECRET + "\n")
    path = directory / "config.yml"
    path.write_text(
        "api:\n"
        f"  base_url: {upstream}\n"
        f"  token_url: {upstream}/connect/token\n"
        "  timeout: 2s\n"
        "  retries: 2\n"
        f"  max_concurrency: {MAX_CONCURRENCY}\n"
        f"  max_requests_per_second: {MAX_RPS:g}\n"
        f"auth:\n  client_id: {DEMO_CLIENT_ID}\n  client_secret_file: secret\n"
        "cache:\n  ttl: 2s\n"
    )
    return path


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the exporter exited early with {proc.returncode}")
        try:
            if requests.get(url + "/-/healthy", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {seconds}s")


LIVE_MARKER = "# HELP avepoint_api_requests_total "


class Validator:
    """Checks that an answer parses as Prometheus text, cheaply enough for 50 scrapers on a small machine.

    The exporter's answer is the cached data exposition (the same bytes until the data change) followed
    by the live counters. Parsing 200 kB per answer would make this process, not the exporter, the
    bottleneck; so the first answer with a given data part is parsed whole, and after that an answer
    whose data part has the same digest has its live part parsed. An answer without the marker is
    parsed whole.
    """

    def __init__(self) -> None:
        self._seen: set[bytes] = set()
        self._lock = threading.Lock()

    def valid(self, text: str) -> bool:
        cut = text.find(LIVE_MARKER)
        if cut < 0:
            return _parses(text)
        digest = hashlib.sha256(text[:cut].encode()).digest()
        with self._lock:
            seen = digest in self._seen
        if not seen:
            if not _parses(text):
                return False
            with self._lock:
                self._seen.add(digest)
            return True
        return _parses(text[cut:])


def _parses(text: str) -> bool:
    try:
        families = list(text_string_to_metric_families(text))
    except Exception:  # what the check counts, whatever the parser raised
        return False
    return bool(families)


def scraper(
    url: str, until: float, gzip: bool, validator: Validator, *, out: list[tuple[int, float, bool]], errors: list[str]
) -> None:
    """Scrape until `until`; note (status, seconds, parsed) per answer. Bounded: one loop per answer."""
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": "5", "Accept-Encoding": "gzip" if gzip else "identity"}
    with requests.Session() as session:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                response = session.get(url + "/metrics", headers=headers, timeout=15)
                body = response.text  # decompressed when gzip
            except requests.RequestException as exc:
                errors.append(type(exc).__name__)
                time.sleep(0.05)
                continue
            elapsed = time.monotonic() - started
            parsed = response.status_code == 200 and "avepoint_up " in body and validator.valid(body)
            out.append((response.status_code, elapsed, parsed))


class Upstream:
    """The simulator and the fault proxy in a process of their own, so the scrapers' parsing (this
    process is busy with it) does not slow the upstream the exporter refreshes from.

    The child is this module with `--serve-upstream`: it prints the proxy's URL, serves until its stdin
    closes, then prints the arrival time (CLOCK_MONOTONIC, shared by every process) of each request
    and the simulator's count per route and status, as JSON.
    """

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.soak", "--serve-upstream"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the upstream process did not start")
        self.url: str = json.loads(line)["url"]

    def stop(self) -> tuple[list[float], dict[str, int]]:
        out, _ = self.proc.communicate(timeout=30)
        report = json.loads(out)
        return report["arrivals"], report["statuses"]


def serve_upstream() -> None:
    with (
        Simulator(FleetSpec(customers=CUSTOMERS, seed=9), fault_seed=3) as sim,
        FaultProxy(sim.base_url) as proxy,
    ):
        sim.faults.error_rate = ERROR_RATE
        sim.faults.timeout_sleep = 3.0  # longer than the exporter's api.timeout (2 s)
        print(json.dumps({"url": proxy.url}), flush=True)
        sys.stdin.read()  # until the parent closes it
        arrivals = [t for t, _, _ in proxy.arrivals]
        statuses = {f"{route} {status}": n for (route, status), n in sorted(sim.requests.items())}
    print(json.dumps({"arrivals": arrivals, "statuses": statuses}), flush=True)


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run(seconds: float = 60.0, clients: int = 50) -> Result:
    result = Result(seconds=seconds, clients=clients)
    upstream = Upstream()
    try:
        with tempfile.TemporaryDirectory(prefix="avepoint-soak-") as tmp:
            directory = Path(tmp)
            cfg = write_config(directory, upstream.url)
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            log_path = directory / "exporter.log"
            with log_path.open("wb") as log_file:
                # The log goes to a file: a pipe nobody reads would fill and block the exporter.
                proc = subprocess.Popen(
                    [SCRIPT, "--config.file", str(cfg), "--web.listen-address", f"127.0.0.1:{port}"],
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
                try:
                    wait_ready(url, proc)
                    window = _load(result, url, proc.pid, seconds, clients)
                    result.exporter_alive = proc.poll() is None
                finally:
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGTERM)
                        try:
                            proc.wait(timeout=10)
                        except subprocess.TimeoutExpired:
                            proc.kill()
                            proc.wait()
                    result.exporter_exit_code = proc.returncode
            result.exporter_log_tracebacks = log_path.read_text(errors="replace").count("Traceback")
    finally:
        arrivals, result.upstream_statuses = upstream.stop()
    started, until = window
    _rates(result, sorted(t for t in arrivals if started <= t <= until), until - started)
    result.failures = check(result)
    return result


def _load(result: Result, url: str, pid: int, seconds: float, clients: int) -> tuple[float, float]:
    started = time.monotonic()
    cpu_before = cpu_seconds(pid)
    until = started + seconds
    answers: list[tuple[int, float, bool]] = []
    errors: list[str] = []
    validator = Validator()
    threads = [
        threading.Thread(
            target=scraper,
            args=(url, until, i % 2 == 0, validator),
            kwargs={"out": answers, "errors": errors},
            daemon=True,
        )
        for i in range(clients)
    ]
    for t in threads:
        t.start()
    while time.monotonic() < until:
        value = rss_mb(pid)
        if value is not None:
            result.rss_mb.append(value)
        time.sleep(0.25)
    result.exporter_cpu_share = round((cpu_seconds(pid) - cpu_before) / (time.monotonic() - started), 2)
    for t in threads:
        t.join(timeout=30)

    result.scrapes = len(answers)
    result.scrapes_per_second = round(len(answers) / seconds, 1)
    result.statuses = {str(k): v for k, v in sorted(Counter(s for s, _, _ in answers).items())}
    result.unparseable = sum(1 for s, _, ok in answers if s == 200 and not ok)
    result.client_errors = len(errors)
    latencies = sorted(t for _, t, _ in answers) or [0.0]
    result.latency_p50 = round(latencies[len(latencies) // 2], 3)
    result.latency_p99 = round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3)
    result.latency_max = round(latencies[-1], 3)
    steady = result.rss_mb[len(result.rss_mb) // 4 :]  # the first quarter is warm-up
    third = max(1, len(steady) // 3)
    result.rss_first_third_mb = round(statistics.fmean(steady[:third]), 1) if steady else 0.0
    result.rss_last_third_mb = round(statistics.fmean(steady[-third:]), 1) if steady else 0.0
    return started, until


def _rates(result: Result, arrivals: list[float], elapsed: float) -> None:
    result.upstream_requests = len(arrivals)
    result.upstream_rate = round(len(arrivals) / elapsed, 2)
    j = 0
    for i, t in enumerate(arrivals):  # the most requests any WINDOW seconds held
        while arrivals[j] <= t - WINDOW:
            j += 1
        result.upstream_max_per_window = max(result.upstream_max_per_window, i - j + 1)


def check(r: Result) -> list[str]:
    failures = []
    if r.scrapes < r.clients:
        failures.append(f"only {r.scrapes} scrapes by {r.clients} clients")
    bad = {s: n for s, n in r.statuses.items() if s != "200"}
    if bad:
        failures.append(f"answers other than 200: {bad}")
    if r.unparseable:
        failures.append(f"{r.unparseable} answers did not parse")
    if r.client_errors:
        failures.append(f"{r.client_errors} scrapes failed on the client side")
    if not r.rss_first_third_mb or r.rss_last_third_mb > r.rss_first_third_mb * (1 + MEMORY_GROWTH):
        failures.append(f"memory grew from {r.rss_first_third_mb} MB to {r.rss_last_third_mb} MB")
    if r.upstream_rate > MAX_RPS:
        failures.append(f"upstream rate {r.upstream_rate}/s above api.max_requests_per_second {MAX_RPS:g}")
    if r.upstream_max_per_window > MAX_RPS * WINDOW + 1:
        failures.append(f"{r.upstream_max_per_window} upstream requests within {WINDOW:g} s")
    if r.upstream_requests == 0:
        failures.append("no upstream requests: the exporter never refreshed")
    if not r.exporter_alive:
        failures.append("the exporter died during the run")
    if r.exporter_exit_code != 0:
        failures.append(f"the exporter exited with {r.exporter_exit_code} on SIGTERM")
    if r.exporter_log_tracebacks:
        failures.append(f"{r.exporter_log_tracebacks} tracebacks in the exporter's log")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the 50 clients scrape (default 60)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent scrapers (default 50)")
    parser.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_upstream:
        serve_upstream()
        return 0
    result = run(args.seconds, args.clients)
    print(json.dumps(result.summary(), indent=2))
    for failure in result.failures:
        print("FAILED:", failure, file=sys.stderr)
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
