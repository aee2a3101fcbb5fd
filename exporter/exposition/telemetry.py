"""The exporter's own metrics (API calls, parse errors, scrapes), registered in a registry passed in."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from exporter import __version__
from exporter.shard import Shard

# Upstream calls take tens of milliseconds to tens of seconds (timeouts, slow pages).
API_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Telemetry:
    """Counters that change with every request or scrape, so they live outside the cached exposition.

    A name ending in a unit says so (`unit=`), so the OpenMetrics exposition carries its `# UNIT` line;
    the classic text format has none, and the names stay the same.
    """

    def __init__(self, registry: CollectorRegistry, shard: Shard | None = None) -> None:
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
            registry=registry,
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

    def config_reload(self, ok: bool) -> None:
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_time.set_to_current_time()

    def state_file(self, ok: bool, skipped: int) -> None:
        self.state_file_ok.set(1 if ok else 0)
        self.state_file_skipped.set(skipped)

    def observe_request(self, endpoint: str, code: str, seconds: float) -> None:
        self.api_requests.labels(endpoint, code).inc()
        self.api_duration.labels(endpoint).observe(seconds)
