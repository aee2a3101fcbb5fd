"""The app: what each route answers, knowing nothing of sockets; which route a method and path reach."""

from __future__ import annotations

import contextlib
import gzip
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast
from urllib.parse import parse_qs

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics import exposition as openmetrics_exposition

from exporter import __version__
from exporter.errors import ConfigError
from exporter.exposition import CONTENT_TYPE, EOF, OPENMETRICS_TYPE, ExpositionCache, Telemetry, customer_exposition
from exporter.model import Snapshot
from exporter.refresh import Refresher
from exporter.shard import Shard
from exporter.web.negotiate import wants_openmetrics
from exporter.web.status import HTML_HEADERS, HTML_TYPE, JSON_HEADERS, JSON_TYPE, Page, Process, StatusCache
from exporter.web.status.paging import Query

log = logging.getLogger(__name__)
# prometheus_client's OpenMetrics writer; that module ships without annotations.
generate_openmetrics = cast(Callable[[CollectorRegistry], bytes], openmetrics_exposition.generate_latest)

# Prometheus sends its scrape timeout; answer this much before it so the answer still arrives.
DEADLINE_MARGIN = 0.5
TEXT = "text/plain; charset=utf-8"
# The answer depends on these request headers; a cache in between must not serve one client's to another.
VARY = ("Vary", "Accept, Accept-Encoding")
ROUTES = frozenset({"/metrics", "/probe", "/", "/status.json", "/-/healthy", "/-/ready", "/-/reload"})


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    # Further body parts, sent after `body` without first copying megabytes into one buffer; an iterator
    # (made as it is sent, e.g. text decompressed step by step) only with `size`, the length of them all.
    more: Iterable[bytes] = ()
    size: int | None = None

    @property
    def length(self) -> int:
        if self.size is not None:
            return self.size
        assert isinstance(self.more, tuple | list), "an iterator of body parts needs the response's size"
        return len(self.body) + sum(map(len, self.more))


class App:
    """What the HTTP handler serves; knows nothing about sockets, so tests can call it directly."""

    def __init__(
        self,
        refresher: Callable[[], Refresher],
        live: CollectorRegistry,
        telemetry: Telemetry,
        *,
        reload: Callable[[], None] | None = None,
        lifecycle: bool = False,
        clock: Callable[[], float] = time.monotonic,
        shard: Shard | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._refresher = refresher
        self._live, self._telemetry = live, telemetry
        self._reload = reload
        # POST /-/reload only with --web.enable-lifecycle, as in Prometheus: else anyone who can reach the
        # port (basic auth, if configured, aside) could make the exporter re-read its files at will.
        self._lifecycle = lifecycle
        self._clock, self._wall = clock, wall_clock
        self._cache = ExpositionCache()
        # Set once a client asked for OpenMetrics: from then on prerender builds that view as well.
        self._openmetrics_asked = False
        # Per format: the telemetry version written, and the text of the live registry then (see _own_metrics).
        self._live_text: dict[bool, tuple[int, bytes]] = {}
        self.started = wall_clock()
        self.status = StatusCache(Process(__version__, self.started, shard or Shard()), wall_clock)

    def prerender(self, snap: Snapshot) -> None:
        """Encode the exposition of a new snapshot now, so that no scrape waits for it."""
        exposition = self._cache.get(snap)
        if self._openmetrics_asked:
            exposition.openmetrics  # noqa: B018 - built now, cached on the exposition

    def _collect(self, scrape_timeout: str | None) -> Snapshot:
        refresher = self._refresher()
        wait = refresher.snapshot().config.cache.max_scrape_wait
        if scrape_timeout:
            # A malformed header must not break scrapes: the configured cap applies then.
            with contextlib.suppress(ValueError):
                wait = min(wait, max(float(scrape_timeout) - DEADLINE_MARGIN, 0.0))
        return refresher.snapshot_within(wait)

    def probe(
        self, query: str, scrape_timeout: str | None, accept_encoding: str, accept: str | None = None
    ) -> Response:
        """One customer's metrics (`/probe?customer_id=...`), in the format the Accept header prefers."""
        ids = parse_qs(query).get("customer_id", [])
        if len(ids) != 1 or not ids[0]:
            return Response(400, TEXT, b"give exactly one customer_id: /probe?customer_id=...\n")
        openmetrics = wants_openmetrics(accept)
        body = customer_exposition(self._collect(scrape_timeout), ids[0], openmetrics)
        if body is None:
            return Response(
                404, TEXT, b"customer not exported here: unknown, excluded by config, or owned by another shard\n"
            )
        kind = OPENMETRICS_TYPE if openmetrics else CONTENT_TYPE
        if "gzip" in accept_encoding.lower():
            return Response(200, kind, gzip.compress(body, 6), (("Content-Encoding", "gzip"), VARY))
        return Response(200, kind, body, (VARY,))

    def metrics(self, scrape_timeout: str | None, accept_encoding: str, accept: str | None = None) -> Response:
        """The whole exposition, OpenMetrics 1.0 if the Accept header prefers it, else the classic text."""
        start = self._clock()
        snap = self._collect(scrape_timeout)
        exposition = self._cache.get(snap)
        openmetrics = wants_openmetrics(accept)
        if openmetrics:
            self._openmetrics_asked = True
            exposition = exposition.openmetrics
        self._telemetry.scrape_duration.set(self._clock() - start)
        live = self._own_metrics(openmetrics)
        kind = OPENMETRICS_TYPE if openmetrics else CONTENT_TYPE
        if "gzip" in accept_encoding.lower():
            # The data part was compressed when it changed; only the small live part is compressed now.
            first, *rest = exposition.gzip_with(live)
            return Response(200, kind, first, (("Content-Encoding", "gzip"), VARY), tuple(rest))
        # Plain text is rare (Prometheus asks for gzip) and never kept: decompressed as it is sent.
        body = itertools.chain(exposition.plain(), (live,))
        return Response(200, kind, b"", (VARY,), body, exposition.size + len(live))

    def _own_metrics(self, openmetrics: bool) -> bytes:
        """The exporter's own metrics, last in the answer: written again only after they changed, but for
        the per-scrape ones; in OpenMetrics prometheus_client ends them with `# EOF`."""
        generate = generate_openmetrics if openmetrics else generate_latest
        version = self._telemetry.version  # read first: a change made while writing shows as a newer one
        written = self._live_text.get(openmetrics)
        if written is None or written[0] != version:
            text = generate(self._live)
            written = self._live_text[openmetrics] = (version, text.removesuffix(EOF) if openmetrics else text)
        return written[1] + generate(self._telemetry.per_scrape)

    def _status_page(self) -> Page:
        # A look at the page starts a refresh when the data is stale (single flight, as for scrapes) but
        # never waits for it: the page shows the data it has and how old it is.
        return self.status.get(self._refresher().snapshot_within(0.0))

    def landing(self, accept_encoding: str = "", query: str = "") -> Response:
        """The status page `/`: header, the fleet with problems first, filter and pages (`query`, see paging.py)."""
        page = self._status_page()
        gzipped = "gzip" in accept_encoding.lower()
        first, *rest = page.html_parts(self._wall(), gzipped, Query.parse(query))
        headers = ((("Content-Encoding", "gzip"),) if gzipped else ()) + HTML_HEADERS
        return Response(200, HTML_TYPE, first, headers, tuple(rest))

    def status_json(self) -> Response:
        """`/status.json`: the same data as the page, for scripts."""
        return Response(200, JSON_TYPE, self._status_page().json(), JSON_HEADERS)

    def ready(self) -> Response:
        if self._refresher().snapshot().refreshed:
            return Response(200, "text/plain; charset=utf-8", b"ready\n")
        return Response(503, "text/plain; charset=utf-8", b"not ready: first refresh not attempted yet\n")

    def reload(self) -> Response:
        if not self._lifecycle:
            return Response(403, TEXT, b"Lifecycle API is not enabled.\n")
        if self._reload is None:
            return Response(404, TEXT, b"reload is not available in this mode\n")
        # The answer names no file and no key: the log line has the detail, for whoever runs the exporter.
        try:
            self._reload()
        except ConfigError:
            return Response(500, TEXT, b"reload failed, old config kept; see the exporter's log\n")
        except Exception:
            log.exception("reload failed unexpectedly")
            return Response(500, TEXT, b"reload failed; see the exporter's log\n")
        return Response(200, TEXT, b"config reloaded\n")

    def get(
        self, path: str, query: str, scrape_timeout: str | None, accept_encoding: str, accept: str | None = None
    ) -> Response:
        """The answer to a GET (or HEAD) of `path`; the caller has read the request and checked the password."""
        try:
            if path == "/metrics":
                return self.metrics(scrape_timeout, accept_encoding, accept)
            if path == "/probe":
                return self.probe(query, scrape_timeout, accept_encoding, accept)
            if path == "/":
                return self.landing(accept_encoding, query)
            if path == "/status.json":
                return self.status_json()
            if path == "/-/healthy":
                return Response(200, TEXT, b"healthy\n")
            if path == "/-/ready":
                return self.ready()
            if path == "/-/reload":
                return Response(405, TEXT, b"use POST to reload\n", (("Allow", "POST"),))
            return Response(404, TEXT, b"not found\n")
        except Exception:  # the page must answer, whatever broke behind it
            log.exception("internal error serving request", extra={"path": path})
            return Response(500, TEXT, b"internal error, see the exporter's log\n")

    def post(self, path: str) -> Response:
        if path == "/-/reload":
            return self.reload()
        return Response(405 if path in ROUTES else 404, TEXT, b"method not allowed\n")


__all__ = ["DEADLINE_MARGIN", "ROUTES", "TEXT", "App", "Response"]
