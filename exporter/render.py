"""Records to metric families and exposition bytes: pure, and built once per data change."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from exporter.model import Job
from exporter.refresh import EP_CUSTOMERS, EP_JOBS, Snapshot

# The classic text format; prometheus_client's own default header names a newer version that older
# Prometheus servers and tools do not all know.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JOB_LABELS = ["customer_id", "job_type", "job_module"]
CACHE_NOTE = "Refreshed from the API at most once per cache.ttl."

# (metric suffix, Job attribute, help text): the numeric job gauges, left out where the API sent N/A.
JOB_VALUES: tuple[tuple[str, str, str], ...] = (
    ("objects", "objects", "Objects processed by the latest job (API field totalCount)."),
    ("failed_objects", "failed_objects", "Objects that failed in the latest job (API field failedCount)."),
    (
        "successful_objects",
        "successful_objects",
        "Objects backed up successfully by the latest job (API field successfulCount).",
    ),
    ("skipped_objects", "skipped_objects", "Objects skipped by the latest job (API field skippedCount)."),
    ("warning_objects", "warning_objects", "Objects with warnings in the latest job (API field warningCount)."),
    (
        "size_bytes",
        "size_bytes",
        "Data backed up by the latest job (API field backupSize; KB, MB, GB, TB taken as binary multiples, "
        "1 GB = 2^30 bytes).",
    ),
    ("duration_seconds", "duration_seconds", "Duration of the latest job (API field jobDuration)."),
    ("start_timestamp_seconds", "start_time", "Start of the latest job, Unix time (API field startTime)."),
    ("end_timestamp_seconds", "end_time", "End of the latest job, Unix time (API field endTime)."),
    (
        "last_modified_timestamp_seconds",
        "last_modified",
        "Last change of the latest job's row, Unix time (API field lastModifyTime).",
    ),
)


def _gauge(name: str, documentation: str, labels: Iterable[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, f"{documentation} {CACHE_NOTE}", labels=list(labels))


def families(snap: Snapshot) -> list[Metric]:
    """Every data family of a snapshot. Pure: same snapshot, same families."""
    jobs_cfg = snap.config.jobs
    up = GaugeMetricFamily(
        "avepoint_up",
        "1 while the exporter can authenticate and list customers (GET /partner/customers), else 0.",
        value=1.0 if snap.up else 0.0,
    )
    duration = GaugeMetricFamily(
        "avepoint_refresh_duration_seconds",
        "Time the last completed refresh cycle took (listing and every customer that was due).",
    )
    if snap.last_refresh_seconds is not None:
        duration.add_metric([], snap.last_refresh_seconds)
    info = _gauge(
        "avepoint_customer_info",
        "A customer of the partner; value 1 (API fields id, organization, countryOrRegion).",
        ["customer_id", "organization", "country"],
    )
    cstatus = _gauge(
        "avepoint_customer_status",
        "Job status of a customer as a whole, as the API spells it; value 1 (API field jobStatus).",
        ["customer_id", "status"],
    )
    ok = GaugeMetricFamily(
        "avepoint_refresh_success",
        "1 if the last refresh of this endpoint (for this customer) worked, else 0.",
        labels=["customer_id", "endpoint"],
    )
    ok_time = GaugeMetricFamily(
        "avepoint_refresh_last_success_timestamp_seconds",
        "When this endpoint (for this customer) was last refreshed successfully, Unix time: the age of "
        "the data served.",
        labels=["customer_id", "endpoint"],
    )
    ok.add_metric(["", EP_CUSTOMERS], 1.0 if snap.listing.success else 0.0)
    if snap.listing.last_success is not None:
        ok_time.add_metric(["", EP_CUSTOMERS], snap.listing.last_success)

    values = {attr: _gauge(f"avepoint_backup_job_{suffix}", doc, JOB_LABELS) for suffix, attr, doc in JOB_VALUES}
    jstatus = _gauge(
        "avepoint_backup_job_status",
        "Status of the latest job, as the API spells it (API field status), and its outcome: success, "
        "warning, failed, running, canceled, not_run or unknown; value 1.",
        [*JOB_LABELS, "status", "outcome"],
    )
    jinfo = _gauge(
        "avepoint_backup_job_info",
        "Id and name of the latest job (API fields jobId, name; empty when no job ran); value 1.",
        [*JOB_LABELS, "job_id", "job_name"],
    )
    last_ok = GaugeMetricFamily(
        "avepoint_backup_job_last_success_timestamp_seconds",
        "End of the newest job with outcome success or warning this exporter has seen, Unix time; kept "
        "across job runs and, with state_file, across restarts.",
        labels=JOB_LABELS,
    )
    expected = GaugeMetricFamily(
        "avepoint_backup_job_expected_interval_seconds",
        "How often this job should succeed (config jobs.expected_interval and its overrides); for staleness alerts.",
        labels=JOB_LABELS,
    )

    for cs in snap.customers:
        c = cs.customer
        info.add_metric([c.id, c.organization, c.country], 1.0)
        cstatus.add_metric([c.id, c.status], 1.0)
        ok.add_metric([c.id, EP_JOBS], 1.0 if cs.attempt.success else 0.0)
        if cs.attempt.last_success is not None:
            ok_time.add_metric([c.id, EP_JOBS], cs.attempt.last_success)
        for job in cs.jobs:
            labels = [c.id, job.job_type, job.job_module]
            _add_values(values, labels, job)
            jstatus.add_metric([*labels, job.status, job.outcome.value], 1.0)
            jinfo.add_metric([*labels, job.job_id or "", job.name or ""], 1.0)
            seen = snap.last_success.get((c.id, job.job_type, job.job_module))
            if seen is not None:
                last_ok.add_metric(labels, seen)
            expected.add_metric(labels, jobs_cfg.expected_interval_for(*labels))

    return [up, duration, ok, ok_time, info, cstatus, jstatus, jinfo, *values.values(), last_ok, expected]


def _add_values(values: dict[str, GaugeMetricFamily], labels: list[str], job: Job) -> None:
    for attr, family in values.items():
        value = getattr(job, attr)
        if value is not None:
            family.add_metric(labels, float(value))


class _Families(Collector):
    def __init__(self, items: list[Metric]) -> None:
        self._items = items

    def collect(self) -> Iterator[Metric]:
        return iter(self._items)


def encode(items: list[Metric]) -> bytes:
    """Text exposition of metric families, via prometheus_client's encoder (escaping is its job)."""
    return generate_latest(_Families(items))


@dataclass(frozen=True, slots=True)
class Exposition:
    generation: int
    body: bytes
    gzipped: bytes


class ExpositionCache:
    """Encodes and compresses a snapshot once per generation, however many scrapes read it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Exposition | None = None

    def get(self, snap: Snapshot) -> Exposition:
        with self._lock:
            current = self._current
            if current is None or current.generation != snap.generation:
                body = encode(families(snap))
                # Level 6 is gzip's default trade-off; it runs once per data change, not per scrape.
                current = self._current = Exposition(snap.generation, body, gzip.compress(body, 6))
            return current
