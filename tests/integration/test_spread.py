"""Refresh spreading (issue 17, point 3): a fleet that takes over a second at the rate limit is refreshed evenly.

Against the simulator as a real HTTP upstream that enforces a per-client rate limit (429 past it).
Each test is checked against the plain TTL scheduling (`spread=False`, the benchmark's "before"),
which bursts at the rate limit whenever the TTLs of the fleet expire together, and fails them.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from avepoint_simulator import FleetSpec, Simulator
from avepoint_simulator.faults import Faults
from exporter.refresh import Refresher, slots
from exporter.upstream import Client
from tests.support.harness import Clock, make_config

CUSTOMERS = 200
TTL = 2.0
LIMIT = 200  # requests per second: the client's api.max_requests_per_second and the simulator's limit
# Requests are counted per half second: four per TTL, eight over the two TTLs watched.
BUCKET = 0.5
# A customer's data is never older than the TTL plus the wait for the next tick and its own refresh
# (plus, once, the first cycle: the slots start at its end); SLACK covers the tick (TTL / 50 = 0.04 s)
# and a refresh of some milliseconds on a loaded machine.
SLACK = 1.0


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=CUSTOMERS, seed=3), faults=Faults(rate_limit=LIMIT)) as simulator:
        yield simulator


def _refresher(sim: Simulator, *, spread: bool, clock: Clock | None = None) -> Refresher:
    cfg = make_config(sim, cache={"ttl": f"{TTL:g}s"}, api={"max_requests_per_second": LIMIT, "retries": 3})
    if clock is None:
        return Refresher(cfg, Client(cfg.api, cfg.auth), spread=spread)
    return Refresher(cfg, Client(cfg.api, cfg.auth, sleep=lambda s: None), spread=spread, clock=clock)


def _run(sim: Simulator, spread: bool) -> tuple[list[int], int, float, float, float, float]:
    """Request counts per BUCKET after the first cycle, the 429s of the whole run, the first cycle's duration, the
    oldest data any scrape saw, the oldest from a TTL (and a tick's slack) after the first cycle on, and
    the last snapshot's duration of the last full refresh."""
    refresher = _refresher(sim, spread=spread)
    try:
        started = time.monotonic()
        first = refresher.trigger()
        assert first is not None
        first.result(timeout=30)
        settle = time.monotonic()
        end = settle + 2 * TTL
        oldest = steady = 0.0
        while (now := time.monotonic()) < end:
            snap = refresher.snapshot_within(0.0)  # a scraper every 0.1 s, as Prometheus but faster
            wall = time.time()
            age = max(wall - (cs.attempt.last_success or 0.0) for cs in snap.customers)
            oldest = max(oldest, age)
            # A TTL on, every customer has had its slot after the first cycle; the last slot of that TTL
            # is refreshed at the tick after it, so the steady bound holds from a little later on.
            if now >= settle + TTL + 0.25:
                steady = max(steady, age)
            time.sleep(min(0.1, max(end - now, 0.0)))
        took = refresher.snapshot().last_refresh_seconds or 0.0
    finally:
        refresher.close()
    # Counted from a second after the first cycle, whose requests come at the limiter's pace, not spread.
    begin = settle + 1.0
    counts = Counter(int((t - begin) / BUCKET) for t, _ in sim.arrivals if begin <= t < end)
    # The first cycle included: it runs at the limit (the limiter's 0.9 of it), where a burst or starts
    # bunched by late threads would be refused.
    rejected = sum(1 for t, status in sim.arrivals if t < end and status == 429)
    buckets = [counts.get(i, 0) for i in range(int((end - begin) / BUCKET))]
    return buckets, rejected, settle - started, oldest, steady, took


def test_after_the_first_cycle_requests_come_evenly_within_the_limit(sim: Simulator) -> None:
    buckets, rejected, first_cycle, oldest, steady, took = _run(sim, spread=True)
    mean = (CUSTOMERS + 1) / TTL * BUCKET  # every customer and the listing once per TTL
    # Stated bound: every half second within the limit and within half the mean of it; the plain TTL has
    # half seconds at the limit (twice the mean here) and half seconds with none.
    assert all(0.5 * mean <= n <= min(1.5 * mean, LIMIT * BUCKET) for n in buckets), (buckets, mean)
    assert rejected == 0, f"{rejected} requests refused with 429"
    assert oldest <= TTL + first_cycle + SLACK, f"a scrape saw data {oldest:.2f}s old"
    assert steady <= TTL + SLACK, f"a TTL after the first cycle, a scrape saw data {steady:.2f}s old"
    # avepoint_refresh_duration_seconds and the status page's "took": the full refresh, not the last tick's.
    assert took == pytest.approx(first_cycle, abs=0.5), (took, first_cycle)


def test_each_customer_is_refreshed_in_its_own_slot_once_per_ttl(sim: Simulator) -> None:
    """With a fake clock: the customers refreshed per tenth of the TTL follow their hashed slots exactly."""
    sim.faults.rate_limit = None  # the client's limiter does not wait on a fake clock
    clock = Clock()
    refresher = _refresher(sim, spread=True, clock=clock)
    try:
        first = refresher.trigger()
        assert first is not None
        first.result(timeout=30)
        refreshed_at: dict[str, list[float]] = {}
        step = TTL / 40
        for i in range(1, round(3 * TTL / step) + 1):
            # Taken before the clock moves: the cycle thread may start the pass on its own tick.
            before = {cs.customer.id: cs.attempt.last_success for cs in refresher.snapshot().customers}
            # Not +=: no float drift. Slots lie half-way between multiples of TTL / CUSTOMERS, never on a step.
            clock.now = i * step
            cycle = refresher.trigger()
            if cycle is not None:
                cycle.result(timeout=30)
            for cs in refresher.snapshot().customers:
                if cs.attempt.last_success != before[cs.customer.id]:
                    refreshed_at.setdefault(cs.customer.id, []).append(clock.now)
    finally:
        refresher.close()
    phases = slots.Slots()
    phases.assign(sim.customer_ids)
    assert len(refreshed_at) == CUSTOMERS
    for cid, times in refreshed_at.items():
        # Three TTLs after the first cycle: three refreshes, one TTL apart, each in the customer's slot.
        assert len(times) == 3, (cid, times)
        assert all(b - a == pytest.approx(TTL, abs=step + 1e-9) for a, b in itertools.pairwise(times))
        slot = phases.phase(cid) * TTL
        late = [(t - slot) % TTL for t in times]  # how long after its slot; float noise may wrap to ~TTL
        assert all(d < step + 1e-6 or d > TTL - 1e-6 for d in late), (cid, times, slot)
    # Evenly spaced phases: every tenth of the TTL refreshes a tenth of the fleet, give or take one
    # customer per TTL (a slot at a tenth's end is refreshed on the step that opens the next).
    per_tenth = Counter(int(round((t % TTL) / (TTL / 10), 6)) % 10 for times in refreshed_at.values() for t in times)
    assert sorted(per_tenth) == list(range(10))
    assert all(abs(n - 3 * CUSTOMERS / 10) <= 3 for n in per_tenth.values()), per_tenth


@pytest.mark.parametrize(("customers", "spread"), [(9, False), (10, True)])
def test_only_a_refresh_longer_than_a_second_at_the_limit_is_spread(
    sim: Simulator, customers: int, spread: bool
) -> None:
    """At 10 requests per second: 9 customers and the listing keep the plain TTL (all refreshed together, a
    TTL apart); 10 and the listing take longer than a second, so they are spread over the TTL."""
    sim.faults.rate_limit = None
    clock = Clock()
    include = sorted(sim.customer_ids)[:customers]
    cfg = make_config(sim, cache={"ttl": "60s"}, customers={"include": include}, api={"max_requests_per_second": 10})
    refresher = Refresher(cfg, Client(cfg.api, cfg.auth, sleep=lambda s: None), clock=clock)
    try:
        refresher.snapshot_within(10)
        sim.reset_counters()
        clock.now = 30.0
        refresher.snapshot_within(10)
        halfway = len(sim.arrivals)
        clock.now = 61.0
        refresher.snapshot_within(10)
        if spread:  # the customers whose slot is in the first half, then the others and the listing
            assert 0 < halfway < customers and len(sim.arrivals) == customers + 1
        else:
            assert halfway == 0 and len(sim.arrivals) == customers + 1
    finally:
        refresher.close()
