"""Records to exposition bytes: pure per-customer fragments, assembled and compressed incrementally.

prometheus_client's `generate_latest` takes over a second per 100,000 samples here, and a large fleet
has hundreds of thousands. So the exposition is built from per-customer fragments, each encoded once when
that customer's data changes, and compressed once too: every fragment is its own run of deflate blocks,
cut at a full flush (the technique of pigz and gzip --rsyncable), so the gzip body is the fragments'
compressed bytes concatenated. A change of one customer re-encodes and re-compresses that customer only.
The encoding follows prometheus_client's text format byte for byte (the golden test compares them) and
uses its float formatting.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from prometheus_client import utils

from exporter.config import JobsConfig
from exporter.model import Customer, Job
from exporter.refresh import EP_CUSTOMERS, EP_JOBS, Attempt, CustomerState, ModuleKey, Snapshot

# The classic text format; prometheus_client's own default header names a newer version that older
# Prometheus servers and tools do not all know.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
GZIP_LEVEL = 6
CACHE_NOTE = "Refreshed from the API at most once per cache.ttl."
# prometheus_client's own float formatting (Go's, as Prometheus parses it); it ships without annotations.
_go_float = cast(Callable[[float], str], utils.floatToGoString)


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    help: str

    @property
    def header(self) -> bytes:
        doc = self.help.replace("\\", r"\\").replace("\n", r"\n")
        return f"# HELP {self.name} {doc}\n# TYPE {self.name} gauge\n".encode()


def _family(name: str, doc: str, cached: bool = True) -> Family:
    return Family(name, f"{doc} {CACHE_NOTE}" if cached else doc)


UP = _family(
    "avepoint_up",
    "1 while the exporter can authenticate and list customers (GET /partner/customers), else 0.",
    cached=False,
)
REFRESH_DURATION = _family(
    "avepoint_refresh_duration_seconds",
    "Time the last completed refresh cycle took (listing and every customer that was due).",
    cached=False,
)
REFRESH_OK = _family(
    "avepoint_refresh_success",
    "1 if the last refresh of this endpoint (for this customer) worked, else 0.",
    cached=False,
)
REFRESH_TIME = _family(
    "avepoint_refresh_last_success_timestamp_seconds",
    "When this endpoint (for this customer) was last refreshed successfully, Unix time: the age of the data served.",
    cached=False,
)
CUSTOMER_INFO = _family(
    "avepoint_customer_info", "A customer of the partner; value 1 (API fields id, organization, countryOrRegion)."
)
CUSTOMER_STATUS = _family(
    "avepoint_customer_status",
    "Job status of a customer as a whole, as the API spells it; value 1 (API field jobStatus).",
)
JOB_STATUS = _family(
    "avepoint_backup_job_status",
    "Status of the latest job, as the API spells it (API field status), and its outcome: success, warning, "
    "failed, running, canceled, not_run or unknown; value 1.",
)
JOB_INFO = _family(
    "avepoint_backup_job_info",
    "Id and name of the latest job (API fields jobId, name; empty when no job ran); value 1.",
)
# (family, Job attribute): the numeric job gauges, left out where the API sent N/A.
JOB_VALUES: tuple[tuple[Family, str], ...] = (
    (_family("avepoint_backup_job_objects", "Objects processed by the latest job (API field totalCount)."), "objects"),
    (
        _family("avepoint_backup_job_failed_objects", "Objects that failed in the latest job (API field failedCount)."),
        "failed_objects",
    ),
    (
        _family(
            "avepoint_backup_job_successful_objects",
            "Objects backed up successfully by the latest job (API field successfulCount).",
        ),
        "successful_objects",
    ),
    (
        _family("avepoint_backup_job_skipped_objects", "Objects skipped by the latest job (API field skippedCount)."),
        "skipped_objects",
    ),
    (
        _family(
            "avepoint_backup_job_warning_objects",
            "Objects with warnings in the latest job (API field warningCount).",
        ),
        "warning_objects",
    ),
    (
        _family(
            "avepoint_backup_job_size_bytes",
            "Data backed up by the latest job (API field backupSize; KB, MB, GB, TB taken as binary multiples, "
            "1 GB = 2^30 bytes).",
        ),
        "size_bytes",
    ),
    (
        _family("avepoint_backup_job_duration_seconds", "Duration of the latest job (API field jobDuration)."),
        "duration_seconds",
    ),
    (
        _family(
            "avepoint_backup_job_start_timestamp_seconds", "Start of the latest job, Unix time (API field startTime)."
        ),
        "start_time",
    ),
    (
        _family("avepoint_backup_job_end_timestamp_seconds", "End of the latest job, Unix time (API field endTime)."),
        "end_time",
    ),
    (
        _family(
            "avepoint_backup_job_last_modified_timestamp_seconds",
            "Last change of the latest job's row, Unix time (API field lastModifyTime).",
        ),
        "last_modified",
    ),
)
LAST_SUCCESS = _family(
    "avepoint_backup_job_last_success_timestamp_seconds",
    "End of the newest job with outcome success or warning this exporter has seen, Unix time; kept across job "
    "runs and, with state_file, across restarts.",
    cached=False,
)
EXPECTED = _family(
    "avepoint_backup_job_expected_interval_seconds",
    "How often this job should succeed (config jobs.expected_interval and its overrides); for staleness alerts.",
    cached=False,
)

# Exposition order. Families a customer contributes to are split in two fragment kinds: the refresh state
# changes every cycle and is tiny; the job families are large and change only when the jobs do.
FAMILIES: tuple[Family, ...] = (
    UP,
    REFRESH_DURATION,
    REFRESH_OK,
    REFRESH_TIME,
    CUSTOMER_INFO,
    CUSTOMER_STATUS,
    JOB_STATUS,
    JOB_INFO,
    *(family for family, _ in JOB_VALUES),
    LAST_SUCCESS,
    EXPECTED,
)
CUSTOMER_FAMILIES = (REFRESH_OK, REFRESH_TIME, CUSTOMER_INFO, CUSTOMER_STATUS)
JOB_FAMILIES = tuple(f for f in FAMILIES[FAMILIES.index(JOB_STATUS) :])


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    # Sorted by name, as prometheus_client writes them.
    return ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(pairs))


def _line(name: str, labels: str, value: float) -> str:
    return f"{name}{{{labels}}} {_go_float(value)}\n" if labels else f"{name} {_go_float(value)}\n"


def customer_lines(customer: Customer, attempt: Attempt) -> dict[Family, str]:
    """The small per-customer families: refresh state, info, status."""
    out = {
        REFRESH_OK: _line(
            REFRESH_OK.name, _labels([("customer_id", customer.id), ("endpoint", EP_JOBS)]), float(attempt.success)
        ),
        CUSTOMER_INFO: _line(
            CUSTOMER_INFO.name,
            _labels(
                [("country", customer.country), ("customer_id", customer.id), ("organization", customer.organization)]
            ),
            1.0,
        ),
        CUSTOMER_STATUS: _line(
            CUSTOMER_STATUS.name, _labels([("customer_id", customer.id), ("status", customer.status)]), 1.0
        ),
    }
    if attempt.last_success is not None:
        out[REFRESH_TIME] = _line(
            REFRESH_TIME.name, _labels([("customer_id", customer.id), ("endpoint", EP_JOBS)]), attempt.last_success
        )
    return out


def job_lines(
    customer_id: str, jobs: tuple[Job, ...], last_success: Mapping[ModuleKey, float], jobs_cfg: JobsConfig
) -> dict[Family, str]:
    """The job families of one customer. Pure: the same inputs give the same text."""
    parts: dict[Family, list[str]] = {family: [] for family in JOB_FAMILIES}
    for job in jobs:
        base = [("customer_id", customer_id), ("job_module", job.job_module), ("job_type", job.job_type)]
        labels = _labels(base)
        parts[JOB_STATUS].append(
            _line(JOB_STATUS.name, _labels([*base, ("outcome", job.outcome.value), ("status", job.status)]), 1.0)
        )
        parts[JOB_INFO].append(
            _line(JOB_INFO.name, _labels([*base, ("job_id", job.job_id or ""), ("job_name", job.name or "")]), 1.0)
        )
        for family, attr in JOB_VALUES:
            value = getattr(job, attr)
            if value is not None:
                parts[family].append(_line(family.name, labels, float(value)))
        seen = last_success.get(job.key)
        if seen is not None:
            parts[LAST_SUCCESS].append(_line(LAST_SUCCESS.name, labels, seen))
        interval = jobs_cfg.expected_interval_for(customer_id, job.job_type, job.job_module)
        parts[EXPECTED].append(_line(EXPECTED.name, labels, interval))
    return {family: "".join(lines) for family, lines in parts.items() if lines}


def global_lines(snap: Snapshot) -> dict[Family, str]:
    """The samples that belong to no customer: up, refresh duration, the listing's refresh state."""
    out = {
        UP: _line(UP.name, "", 1.0 if snap.up else 0.0),
        REFRESH_OK: _line(
            REFRESH_OK.name, _labels([("customer_id", ""), ("endpoint", EP_CUSTOMERS)]), float(snap.listing.success)
        ),
    }
    if snap.last_refresh_seconds is not None:
        out[REFRESH_DURATION] = _line(REFRESH_DURATION.name, "", snap.last_refresh_seconds)
    if snap.listing.last_success is not None:
        out[REFRESH_TIME] = _line(
            REFRESH_TIME.name, _labels([("customer_id", ""), ("endpoint", EP_CUSTOMERS)]), snap.listing.last_success
        )
    return out


def encode(snap: Snapshot) -> bytes:
    """The whole exposition of a snapshot, uncached (reference path; ExpositionCache is the fast one)."""
    fragments = [global_lines(snap)]
    for cs in snap.customers:
        fragments.append(customer_lines(cs.customer, cs.attempt))
        fragments.append(job_lines(cs.customer.id, cs.jobs, cs.last_success, snap.config.jobs))
    return b"".join(family.header + "".join(f.get(family, "") for f in fragments).encode() for family in FAMILIES)


# --- incremental assembly and compression -------------------------------------------------------------------


class _Piece:
    """Encoded and compressed text of one fragment, per family."""

    __slots__ = ("compressed", "plain")

    def __init__(self, lines: Mapping[Family, str]) -> None:
        self.plain = {family: text.encode() for family, text in lines.items()}
        self.compressed = _deflate(self.plain)


def _deflate(plain: Mapping[Family, bytes]) -> dict[Family, bytes]:
    # One compressor per fragment; a full flush after each family makes every family's output a
    # self-contained, byte-aligned run of deflate blocks that can be concatenated in any order.
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return {family: compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH) for family, data in plain.items()}


_HEADERS = _Piece({family: family.header.decode() for family in FAMILIES})
# A gzip member header (RFC 1952: no name, no mtime, unknown OS), and the final empty deflate block.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_FINAL_BLOCK = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS).flush()


@dataclass(frozen=True, slots=True)
class Exposition:
    generation: int
    body: bytes
    gzipped: bytes


@dataclass(slots=True)
class _CustomerCache:
    customer: Customer
    attempt: Attempt
    small: _Piece
    jobs: tuple[Job, ...]
    last_success: Mapping[ModuleKey, float]
    jobs_cfg: JobsConfig
    large: _Piece


class ExpositionCache:
    """Builds the exposition once per snapshot generation, re-encoding only the customers that changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Exposition | None = None
        self._customers: dict[str, _CustomerCache] = {}
        self.rebuilt_customers = 0  # how many customers the last build re-encoded (for tests and benchmarks)

    def get(self, snap: Snapshot) -> Exposition:
        with self._lock:
            current = self._current
            if current is None or current.generation != snap.generation:
                current = self._current = self._build(snap)
            return current

    def _build(self, snap: Snapshot) -> Exposition:
        jobs_cfg = snap.config.jobs
        pieces = [_Piece(global_lines(snap))]
        fresh: dict[str, _CustomerCache] = {}
        rebuilt = 0
        for cs in snap.customers:
            entry = self._refreshed(self._customers.get(cs.customer.id), cs, jobs_cfg)
            rebuilt += entry is not self._customers.get(cs.customer.id)
            fresh[cs.customer.id] = entry
            pieces.append(entry.small)
            pieces.append(entry.large)
        self._customers = fresh  # customers gone from the snapshot leave the cache
        self.rebuilt_customers = rebuilt
        plain: list[bytes] = []
        packed: list[bytes] = [_GZIP_HEADER]
        for family in FAMILIES:
            plain.append(_HEADERS.plain[family])
            packed.append(_HEADERS.compressed[family])
            for piece in pieces:
                data = piece.plain.get(family)
                if data:
                    plain.append(data)
                    packed.append(piece.compressed[family])
        body = b"".join(plain)
        packed.append(_FINAL_BLOCK)
        packed.append(struct.pack("<II", zlib.crc32(body), len(body) & 0xFFFFFFFF))
        return Exposition(snap.generation, body, b"".join(packed))

    @staticmethod
    def _refreshed(old: _CustomerCache | None, cs: CustomerState, jobs_cfg: JobsConfig) -> _CustomerCache:
        cid = cs.customer.id
        if old is None:
            return _CustomerCache(
                cs.customer,
                cs.attempt,
                _Piece(customer_lines(cs.customer, cs.attempt)),
                cs.jobs,
                cs.last_success,
                jobs_cfg,
                _Piece(job_lines(cid, cs.jobs, cs.last_success, jobs_cfg)),
            )
        small, large = old.small, old.large
        same_small = old.customer == cs.customer and old.attempt == cs.attempt
        # Identity first: the refresher keeps the same objects when nothing changed, so this is cheap.
        same_large = (
            (old.jobs is cs.jobs or old.jobs == cs.jobs)
            and (old.last_success is cs.last_success or old.last_success == cs.last_success)
            and (old.jobs_cfg is jobs_cfg or old.jobs_cfg == jobs_cfg)
        )
        if same_small and same_large:
            return old
        if not same_small:
            small = _Piece(customer_lines(cs.customer, cs.attempt))
        if not same_large:
            large = _Piece(job_lines(cid, cs.jobs, cs.last_success, jobs_cfg))
        return _CustomerCache(cs.customer, cs.attempt, small, cs.jobs, cs.last_success, jobs_cfg, large)
