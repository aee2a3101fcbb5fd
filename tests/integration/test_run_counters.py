"""Run counters end to end: the console script against the simulator as its real HTTP upstream, the simulator's
clock stepped through several job runs, /metrics parsed (both formats) and checked by promtool, in both API
versions. The expected counts come from the rows the simulator served at each step."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest
import requests
from prometheus_client.core import Metric
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families

from avepoint_simulator import FleetSpec, Simulator
from exporter import codes
from tests.support import free_port
from tests.support.harness import NOW, SCRIPT, stop, wait_for, write_config

pytestmark = pytest.mark.e2e

# prometheus_client's strict OpenMetrics parser; it ships without annotations.
openmetrics_families = cast(Callable[[str], Iterator[Metric]], openmetrics_parser.text_string_to_metric_families)

PERIOD = 3600.0  # a run every hour per module
# A refresh every 20 minutes: runs last at most 0.6 of the period (the simulator's bound), so every run is seen
# finished before the next one replaces it; the README's "none is missed while cache.ttl is shorter than the
# interval between runs".
STEP = 1200.0
STEPS = 9
# What the simulator's statuses mean (README, "Job statuses"), written out rather than taken from the exporter.
FINISHED = {
    "Finished": "success",
    "Finished with exception": "warning",
    "Failed": "failed",
    "Failed to start": "failed",
    "Canceled": "canceled",
}
OUTCOMES = ("success", "warning", "failed", "canceled", "unknown")

Series = tuple[str, str, str]  # customer id, job type, job module (canonical, as exported)


class SimClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def sim(clock: SimClock) -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=3, seed=4), clock=clock, job_period=PERIOD) as simulator:
        # The exporter keeps a token by its own (real) clock; the simulator's jumps must not expire it.
        simulator.faults.token_ttl = 10**8
        yield simulator


def samples(body: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
        if s.name == name
    }


def series(cid: str, row: dict[str, object]) -> Series:
    job_type, module = str(row["jobType"]), str(row["jobModule"])
    return cid, codes.canonical_job_type(job_type), codes.canonical_job_module(module)


class Expected:
    """The counting rule applied to the rows the simulator served: a run counts once when first seen finished,
    but a finished run at a job's first sight is the baseline."""

    def __init__(self) -> None:
        self.accounted: dict[Series, tuple[object, object] | None] = {}
        self.counts: Counter[tuple[Series, str]] = Counter()

    def observe(self, sim: Simulator) -> None:
        for cid in sim.customer_ids:
            for row in sim.jobs(cid):
                key, run = series(cid, row), (row["jobId"], row["startTime"])
                outcome = FINISHED.get(str(row["status"])) if row["jobId"] != "N/A" else None
                if key not in self.accounted:
                    self.accounted[key] = run if outcome else None
                elif outcome and self.accounted[key] != run:
                    self.accounted[key] = run
                    self.counts[(key, outcome)] += 1


def scrape_fresh(url: str, sim: Simulator) -> str:
    """/metrics once it shows the jobs of the simulator's current time (each scrape starts a due refresh)."""
    wanted = {series(cid, row): row["startTime"] for cid in sim.customer_ids for row in sim.jobs(cid)}
    for _ in range(50):
        body = requests.get(url + "/metrics", timeout=10).text
        starts = samples(body, "avepoint_backup_job_start_timestamp_seconds")
        shown = {
            (d["customer_id"], d["job_type"], d["job_module"]): time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(v))
            for labels, v in starts.items()
            for d in [dict(labels)]
        }
        if all(shown.get(key, "N/A") == start for key, start in wanted.items()):
            return body
        time.sleep(0.2)
    raise AssertionError("the exporter did not refresh to the simulator's time")


@pytest.mark.parametrize("version", ["legacy", "v3"])
def test_runs_are_counted_as_the_simulated_jobs_run(
    sim: Simulator, clock: SimClock, tmp_path: Path, version: str
) -> None:
    cfg = write_config(tmp_path / "config.yml", sim, version=version, ttl="1s")
    port = free_port()
    proc = subprocess.Popen(
        [SCRIPT, "--config.file", str(cfg), "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    expected = Expected()
    try:
        wait_for(url + "/-/ready", proc)
        started = time.time()
        body = scrape_fresh(url, sim)
        expected.observe(sim)
        first = samples(body, "avepoint_backup_job_runs_total")
        assert first and set(first.values()) == {0.0}  # every job, every outcome, at 0 from its first sight
        since = samples(body, "avepoint_backup_job_runs_seen_since_timestamp_seconds")
        assert len(first) == 5 * len(since) and all(started - 60 <= v <= time.time() for v in since.values())
        for _ in range(STEPS):
            clock.now += STEP
            time.sleep(1.05)  # cache.ttl
            body = scrape_fresh(url, sim)
            expected.observe(sim)
        counted = samples(body, "avepoint_backup_job_runs_total")
        got = {
            ((d["customer_id"], d["job_type"], d["job_module"]), d["outcome"]): v
            for labels, v in counted.items()
            for d in [dict(labels)]
            if v
        }
        assert got == {key: float(n) for key, n in expected.counts.items()}
        totals = Counter(outcome for (_, outcome), n in expected.counts.items() for _ in range(n))
        assert totals["success"] > 10 and totals["failed"] + totals["warning"] > 0, totals  # a real mix
        # Every run that started after the first sight and finished by now was counted: none missed.
        assert sum(totals.values()) >= len(since) * (STEPS * STEP // PERIOD - 1) * 0.8
        assert samples(body, "avepoint_backup_job_runs_seen_since_timestamp_seconds") == since

        if shutil.which("promtool"):
            check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
            assert check.returncode == 0, check.stdout + check.stderr
        om = requests.get(url + "/metrics", headers={"Accept": "application/openmetrics-text"}, timeout=10)
        assert om.headers["Content-Type"].startswith("application/openmetrics-text")
        (runs,) = [f for f in openmetrics_families(om.text) if f.name == "avepoint_backup_job_runs"]
        assert runs.type == "counter"
        assert {tuple(sorted(s.labels.items())): s.value for s in runs.samples} == counted
    finally:
        _, err = stop(proc)
    assert "Traceback" not in err
