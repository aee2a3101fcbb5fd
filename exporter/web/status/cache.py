"""The page cache: one generation's page, rendered and gzipped once, in the parts each request needs.

The head (facts) is one per generation; the tail (controls, pager, rows) one per query of the page
(paging.py), the default view's and a few others' kept, so paging through a large fleet costs a
filter pass and a hundred rows per new view, not the whole fleet.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable

from exporter import safe
from exporter.exposition import deflate
from exporter.model import Snapshot
from exporter.web.status.document import render_json
from exporter.web.status.html import live_line, render_head, render_tail
from exporter.web.status.paging import Query, haystack
from exporter.web.status.rows import RowCache
from exporter.web.status.view import Process, Status

# Tails kept per generation besides the default view's: people paging or filtering the same page.
KEPT_VIEWS = 32
# A page that took at least SLOW_BUILD seconds to build serves later generations for REUSE times its
# build time: a large fleet refreshed customer by customer (refresh slots) has a new generation every
# tick, and the page would otherwise be rebuilt for nearly every request. The page says how old it is.
# Since the rows' cells are kept between builds (rows.py), a build of every row's cells (the first, after a
# reload that changed the config, after most customers' data changed) is what is slow at a large fleet: some
# 300 ms at 5,000 customers. One after a few customers changed takes some 15 ms there; one after every
# customer was refreshed with nothing new (new attempts only: each row finished again from its kept cells)
# some 60 ms, just over SLOW_BUILD, so that page serves newer generations for some 0.3 s.
SLOW_BUILD = 0.05
REUSE = 5.0


class Page:
    """One generation's page: built once, in the parts each kind of request needs, each on first use."""

    def __init__(self, status: Status, haystacks: tuple[str, ...] | None = None) -> None:
        """`haystacks`: paging.haystack of each of `status.rows`, if the caller has them (else built on first use)."""
        self.status = status
        self._lock = threading.Lock()
        self._head: bytes | None = None
        self._tails: dict[Query, bytes] = {}
        self._haystacks = haystacks
        self._gzip: dict[Query, tuple[bytes, bytes, int, int, int, int]] = {}
        self._json: bytes | None = None

    @property
    def generation(self) -> int:
        return self.status.generation

    def html(self, query: Query | None = None) -> tuple[bytes, bytes]:
        """Head and tail of the page for `query` (the default view when None)."""
        query = query or Query()
        with self._lock:
            if self._head is None:
                # safe.encode: a text that cannot be encoded costs one character, never the page.
                self._head = safe.encode(render_head(self.status))
            tail = self._tails.get(query)
            if tail is None:
                if self._haystacks is None:
                    self._haystacks = tuple(haystack(row) for row in self.status.rows)
                tail = safe.encode(render_tail(self.status, query, self._haystacks))
                if len(self._tails) > KEPT_VIEWS:
                    self._tails = {q: t for q, t in self._tails.items() if q == Query()}
                    self._gzip = {q: g for q, g in self._gzip.items() if q == Query()}
                self._tails[query] = tail
            return self._head, tail

    def json(self) -> bytes:
        with self._lock:
            if self._json is None:
                self._json = render_json(self.status)
            return self._json

    def html_parts(self, now: float, gzip: bool, query: Query | None = None) -> tuple[bytes, ...]:
        """The body: cached head, the live line, cached tail; gzip as one stream of separately compressed runs."""
        query = query or Query()
        head, tail = self.html(query)
        live = safe.encode(live_line(self.status, now))
        if not gzip:
            return head, live, tail
        with self._lock:
            packed = self._gzip.get(query)
            if packed is None:
                # The gzip header goes with the head and the end of the stream with the tail.
                packed = self._gzip[query] = (
                    deflate.HEADER + deflate.compress(head),
                    deflate.compress(tail) + deflate.FINAL,
                    zlib.crc32(head),
                    len(head),
                    zlib.crc32(tail),
                    len(tail),
                )
            packed_head, packed_tail, crc_head, len_head, crc_tail, len_tail = packed
        crc = deflate.crc32_combine(zlib.crc32(live, crc_head), crc_tail, len_tail)
        size = len_head + len(live) + len_tail
        return packed_head, deflate.compress(live), packed_tail + deflate.trailer(crc, size)


class StatusCache:
    """The page of the latest snapshot generation: rebuilt when the data changes, never per request."""

    def __init__(self, process: Process, wall_clock: Callable[[], float] = time.time) -> None:
        self._process = process
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._page: Page | None = None
        self._build_seconds = self._built_at = 0.0
        self.builds = 0
        # The rows of the last build: the next builds only the customers that changed (rows.py).
        self.rows = RowCache()

    def get(self, snap: Snapshot) -> Page:
        with self._lock:
            page = self._page
            if page is None or (page.generation != snap.generation and not self._reusable()):
                started = time.perf_counter()
                view = self.rows.build(snap, self._process, self._wall())
                page = self._page = Page(view, self.rows.haystacks)
                self._built_at = time.perf_counter()
                self._build_seconds = self._built_at - started
                self.builds += 1
            return page

    def _reusable(self) -> bool:
        """Whether the slow page of an older generation is still young enough to serve (see REUSE)."""
        took = self._build_seconds
        return took >= SLOW_BUILD and time.perf_counter() - self._built_at < REUSE * took


__all__ = ["Page", "StatusCache"]
