"""The exporter's own metrics (API calls, parse errors, scrapes), registered in a registry passed in."""

from __future__ import annotations

import itertools

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from exporter import __version__
from exporter.shard import Shard

# Upstream calls take tens of milliseconds to tens of seconds (timeouts, slow pages).
API_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Telemetry:
    """Counters that change with every request or scrape, so they live outside the cached exposition.

    A name ending in a unit says so (`unit=`), so the OpenMetrics exposition carries its `# UNIT` line;
    the classic text format has none, and the names stay the same.

    prometheus_client takes about 10 microseconds per sample to write: the hundred-odd samples here cost
    more than sending 100,000 jobs' worth of pre-compressed bytes. So they change only through the methods
    below, each of which counts a new `version`, and a scrape writes them again only when it has changed.
    What changes with every scrape (the scrape's duration; the process_* metrics, which the runtime adds)
    lives in `per_scrape`, a registry of its own, written every time.
    """

    def __init__(self, registry: CollectorRegistry, shard: Shard | None = None) -> None:
        self.version = 0
        self._changes = itertools.count(1)
        self.per_scrape = CollectorRegistry(auto_describe=True)
        self.api_requests = Counter(
            "avepoint_api_requests",
            "Requests sent to the AvePoint API, by route template and HTTP status code "
            "(timeout or connection_error when no response came).",
            ["endpoint", "code"],
            registry=registry,
        )
        self.api_duration = Histogram(
            "avepoint_api_request_duration_seconds",
            "Time for one request to the AvePoint API, by route template, including reading the body.",
            ["endpoint"],
            buckets=API_BUCKETS,
            unit="seconds",
            registry=registry,
        )
        self.parse_errors = Counter(
            "avepoint_parse_errors",
            "Values from the AvePoint API that could not be parsed and were left out, by API field name.",
            ["field"],
            registry=registry,
        )
        self.scrape_duration = Gauge(
            "avepoint_scrape_duration_seconds",
            "Time the previous /metrics request took to prepare its answer, waiting on refreshes included.",
            unit="seconds",
            registry=self.per_scrape,
        )
        self.reload_ok = Gauge(
            "avepoint_config_last_reload_successful",
            "1 if the last configuration reload worked (or none was asked for), 0 if it failed.",
            registry=registry,
        )
        self.reload_ok.set(1)
        self.reload_time = Gauge(
            "avepoint_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully, Unix time.",
            unit="seconds",
            registry=registry,
        )
        self.reload_time.set_to_current_time()
        self.state_file_ok = Gauge(
            "avepoint_state_file_ok",
            "0 if the state file (state_file) could not be read at start, so it is left untouched and nothing is "
            "saved until it is fixed and the exporter restarted, or if its last save failed; else 1 (also without "
            "state_file).",
            registry=registry,
        )
        self.state_file_ok.set(1)
        self.state_file_skipped = Gauge(
            "avepoint_state_file_skipped_entries",
            "Malformed entries of the state file left out when it was read at start (the others were kept).",
            registry=registry,
        )
        Info(
            "avepoint_exporter_build",
            "Build information of avepoint-backup-exporter; value 1.",
            registry=registry,
        ).info({"version": __version__})
        shard = shard or Shard()
        Info(
            "avepoint_exporter_shard",
            "Which shard of the customers this replica exports (--shard.index of --shard.count); value 1.",
            registry=registry,
        ).info({"index": str(shard.index), "count": str(shard.count)})

    def _changed(self) -> None:
        # next() of a count is atomic: two threads changing at once still leave two distinct versions.
        self.version = next(self._changes)

    # Each change bumps the version after it is made: a scrape that read the version before writing the
    # metrics has then either written the change or sees a newer version next time.
    def config_reload(self, ok: bool) -> None:
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_time.set_to_current_time()
        self._changed()

    def state_file(self, ok: bool, skipped: int) -> None:
        self.state_file_ok.set(1 if ok else 0)
        self.state_file_skipped.set(skipped)
        self._changed()

    def observe_request(self, endpoint: str, code: str, seconds: float) -> None:
        self.api_requests.labels(endpoint, code).inc()
        self.api_duration.labels(endpoint).observe(seconds)
        self._changed()

    def parse_error(self, field: str) -> None:
        self.parse_errors.labels(field).inc()
        self._changed()
