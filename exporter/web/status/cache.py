"""The page cache: one generation's page, rendered and gzipped once, in the parts each request needs."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable

from exporter import safe
from exporter.exposition import deflate
from exporter.model import Snapshot
from exporter.web.status.document import render_json
from exporter.web.status.html import live_line, render_html
from exporter.web.status.view import Process, Status, build


class Page:
    """One generation's page: built once, in the parts each kind of request needs, each on first use.

    Browsers take gzip: the page's text is then compressed as soon as it is rendered and not kept (about
    300 bytes per job); it is kept only once a client asks for it uncompressed.
    """

    def __init__(self, status: Status) -> None:
        self.status = status
        self._lock = threading.Lock()
        self._html: tuple[bytes, bytes] | None = None
        self._gzip: tuple[bytes, bytes, int, int, int, int] | None = None
        self._json: bytes | None = None

    @property
    def generation(self) -> int:
        return self.status.generation

    def _render(self) -> tuple[bytes, bytes]:
        head, tail = render_html(self.status)
        # safe.encode: a text that cannot be encoded costs one character, never the page.
        return safe.encode(head), safe.encode(tail)

    def html(self) -> tuple[bytes, bytes]:
        with self._lock:
            if self._html is None:
                if self._gzip is None:
                    self._html = self._render()
                else:  # decompressing is much quicker than rendering again
                    packed_head, packed_tail = self._gzip[:2]
                    self._html = _inflate(packed_head[len(deflate.HEADER) :]), _inflate(packed_tail)
            return self._html

    def json(self) -> bytes:
        with self._lock:
            if self._json is None:
                self._json = render_json(self.status)
            return self._json

    def html_parts(self, now: float, gzip: bool) -> tuple[bytes, ...]:
        """The body: cached head, the live line, cached tail; gzip as one stream of separately compressed runs."""
        live = safe.encode(live_line(self.status, now))
        if not gzip:
            head, tail = self.html()
            return head, live, tail
        with self._lock:
            if self._gzip is None:
                head, tail = self._html or self._render()  # not kept: see the class
                # The gzip header goes with the head and the end of the stream with the tail.
                self._gzip = (
                    deflate.HEADER + deflate.compress(head),
                    deflate.compress(tail) + deflate.FINAL,
                    zlib.crc32(head),
                    len(head),
                    zlib.crc32(tail),
                    len(tail),
                )
                del head, tail
            packed_head, packed_tail, crc_head, len_head, crc_tail, len_tail = self._gzip
        crc = deflate.crc32_combine(zlib.crc32(live, crc_head), crc_tail, len_tail)
        size = len_head + len(live) + len_tail
        return packed_head, deflate.compress(live), packed_tail + deflate.trailer(crc, size)


def _inflate(run: bytes) -> bytes:
    """A run of full-flushed raw deflate blocks (see exporter.exposition.deflate) back to its text."""
    return zlib.decompressobj(-zlib.MAX_WBITS).decompress(run)


class StatusCache:
    """The page of the latest snapshot generation: rebuilt when the data changes, never per request."""

    def __init__(self, process: Process, wall_clock: Callable[[], float] = time.time) -> None:
        self._process = process
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._page: Page | None = None
        self.builds = 0

    def get(self, snap: Snapshot) -> Page:
        with self._lock:
            page = self._page
            if page is None or page.generation != snap.generation:
                page = self._page = Page(build(snap, self._process, self._wall()))
                self.builds += 1
            return page


__all__ = ["Page", "StatusCache"]
