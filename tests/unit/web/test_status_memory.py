"""The status page cache: what a page keeps grows with one page of rows, not with the fleet; gzip and plain
requests get the same page."""

from __future__ import annotations

import gc
import gzip
import tracemalloc

from exporter.model import Snapshot
from exporter.web.status import StatusCache
from tests.benchmarks import status_page
from tests.support.views import CONFIG, PROCESS


def _page_bytes(snap: Snapshot) -> tuple[int, bytes, bytes]:
    """Bytes the page keeps beyond its view rows after a gzip and a plain request, and the two bodies."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        cache = StatusCache(PROCESS, lambda: 1.0e9)
        page = cache.get(snap)
        view = tracemalloc.get_traced_memory()[0] - base
        zipped = b"".join(page.html_parts(1.0e9, gzip=True))
        plain = b"".join(page.html_parts(1.0e9, gzip=False))
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - base - view - len(zipped) - len(plain)
    finally:
        tracemalloc.stop()
    return kept, zipped, plain


def test_a_page_keeps_one_page_of_rows_whatever_the_fleet() -> None:
    # Both fleets are larger than a page (100 customers): the cached page must not grow with the fleet, as the
    # whole-fleet page did (11 MB of HTML at 5,000 customers, kept beside its gzip).
    small_kept, small_zipped, small_plain = _page_bytes(status_page.refreshed_fleet(120, seed=2, cfg=CONFIG))
    large_kept, large_zipped, large_plain = _page_bytes(status_page.refreshed_fleet(360, seed=2, cfg=CONFIG))
    assert gzip.decompress(small_zipped) == small_plain and gzip.decompress(large_zipped) == large_plain
    assert len(large_plain) < 1.3 * len(small_plain), (len(small_plain), len(large_plain))
    # What stays cached (head, tail, their gzip runs, the filter's haystacks) is about one page, not three.
    assert large_kept < 1.5 * small_kept + 64 * 1024, (small_kept, large_kept)
