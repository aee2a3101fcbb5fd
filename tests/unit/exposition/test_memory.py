"""What the exposition cache keeps per job: compressed runs only, correct across blocks whatever changes."""

from __future__ import annotations

import gc
import gzip
import tracemalloc
from dataclasses import replace

from exporter.exposition import ExpositionCache
from exporter.exposition.cache import BLOCK
from exporter.exposition.text import encode
from exporter.model import Attempt, Snapshot
from tests.benchmarks.bench import JOBS_PER_CUSTOMER, fleet_snapshot


def fleet(customers: int) -> Snapshot:
    """The simulator's fleet parsed as the refresher parses it, without HTTP."""
    return fleet_snapshot(customers, last_success=True)


def test_blocks_made_again_from_records_equal_the_reference_encoding() -> None:
    """A block is recompressed from its members' records when one changes: its neighbours' text must be theirs."""
    snap = fleet(3 * BLOCK + 5)
    cache = ExpositionCache()
    assert cache.get(snap).body == encode(snap)
    states = list(snap.customers)
    middle = BLOCK + 3
    states[middle] = replace(states[middle], jobs=states[middle].jobs[:-1], attempt=Attempt(False, 1.0))
    changed = replace(snap, generation=2, customers=tuple(states))
    exposition = cache.get(changed)
    assert cache.rebuilt_customers == 1
    assert cache.recompressed_blocks == 2  # its block's two halves (small families and jobs), no other
    assert exposition.body == encode(changed)
    assert gzip.decompress(exposition.gzipped) == encode(changed)
    assert exposition.openmetrics.body == encode(changed, openmetrics=True)
    # One customer fewer shifts every later block: those are made again, still byte for byte.
    fewer = replace(changed, generation=3, customers=tuple(states[:2] + states[3:]))
    assert cache.get(fewer).body == encode(fewer)
    assert gzip.decompress(cache.get(fewer).gzipped) == encode(fewer)


def kept_bytes(snap: Snapshot) -> tuple[int, ExpositionCache]:
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        cache = ExpositionCache()
        exposition = cache.get(snap)
        exposition.openmetrics  # noqa: B018 - kept on the exposition once a client asked for it
        b"".join(exposition.plain())  # a plain-text scrape: decompressed as it is sent, nothing kept
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - base
        print(f"exposition cache: {kept / (len(snap.customers) * JOBS_PER_CUSTOMER):.0f} bytes kept per job")
        return kept, cache
    finally:
        tracemalloc.stop()


def test_the_cache_keeps_a_few_hundred_bytes_per_job() -> None:
    """Text is ~2 KB per job and was kept three times over (9 KB per job with the rest); compressed, ~0.3 KB."""
    customers = 50
    snap = fleet(customers)
    kept, cache = kept_bytes(snap)
    per_job = kept / (customers * JOBS_PER_CUSTOMER)
    size = cache.get(snap).size
    text = size / (customers * JOBS_PER_CUSTOMER)
    assert per_job < 500, f"the exposition cache keeps {per_job:.0f} bytes per job ({text:.0f} bytes of text)"
    assert size == len(encode(snap))
