"""The status page cache: a browser's gzip page keeps no text beside it; a plain request gets the same page."""

from __future__ import annotations

import gc
import gzip
import tracemalloc

from avepoint_simulator import FleetSpec, Simulator
from exporter.refresh import Refresher
from exporter.web.status import StatusCache
from tests.benchmarks import status_page
from tests.support.views import CONFIG, PROCESS


def test_a_gzip_page_keeps_only_its_compressed_bytes() -> None:
    sim = Simulator(FleetSpec(customers=60, seed=2))
    refresher = Refresher(CONFIG, status_page.SimulatorRows(sim))
    try:
        cycle = refresher.trigger()
        assert cycle is not None
        cycle.result()
        snap = refresher.snapshot()
    finally:
        refresher.close()
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        cache = StatusCache(PROCESS, lambda: 1.0e9)
        page = cache.get(snap)
        view = tracemalloc.get_traced_memory()[0] - base
        zipped = b"".join(page.html_parts(1.0e9, gzip=True))
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - base - view - len(zipped)
    finally:
        tracemalloc.stop()
    plain = b"".join(page.html_parts(1.0e9, gzip=False))
    assert gzip.decompress(zipped) == plain
    # The page's text is several times its gzip size; kept beside the gzip runs it would count here.
    assert kept < len(plain) / 4, f"{kept} bytes kept for a {len(plain)}-byte page ({len(zipped)} gzip)"
    head, tail = page.html()
    assert page.html()[0] is head and page.html()[1] is tail  # asked for once, kept
    assert plain == head + plain[len(head) : len(plain) - len(tail)] + tail
