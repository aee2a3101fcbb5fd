"""Records to exposition bytes: pure per-customer fragments, assembled and compressed incrementally.

prometheus_client's `generate_latest` takes over a second per 100,000 samples here, and a large fleet
has hundreds of thousands. So the exposition is built from per-customer fragments, each encoded once when
that customer's data changes, and compressed in blocks of a few customers: every block is its own run of
deflate blocks, cut at a full flush (the technique of pigz and gzip --rsyncable), so the gzip body is the
blocks' compressed bytes concatenated. A change of one customer re-encodes that customer and recompresses
its block only.
The encoding follows prometheus_client's text format byte for byte (the golden test compares them) and
uses its float formatting.
"""

from __future__ import annotations

import functools
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from prometheus_client import utils

from exporter import codes, safe
from exporter.config import EndpointsConfig, JobsConfig
from exporter.exposition import deflate
from exporter.model import EP_CUSTOMERS, EP_JOBS, EP_PROTECTED, EP_SERVICES, CustomerState, Job, ModuleKey, Snapshot

# The classic text format; prometheus_client's own default header names a newer version that older
# Prometheus servers and tools do not all know.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
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
    "avepoint_customer_info",
    "A customer of the partner; value 1 (API fields id, organization, countryOrRegion, managementMode; the "
    "last only with api.version v3).",
)
TENANT_INFO = _family(
    "avepoint_customer_tenant_info",
    "A tenant of a customer; value 1 (API field tenants, api.version v3 only).",
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
# Beside the job families rather than a label on them, so every existing series keeps its label set.
JOB_KIND = _family(
    "avepoint_backup_job_kind",
    "What the job does: kind is backup, scan (Microsoft 365 Scan, Google Workspace Scan), archiver or retention "
    '(v3 lists these in the same answer); value 1. Backup alerts and ratios leave out kind!="backup".',
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
PROTECTED_SCANNED = _family(
    "avepoint_protected_scanned_objects",
    "Objects scanned by Cloud Backup for Microsoft 365, per service and module (API field totalScannedObjects).",
)
PROTECTED_OBJECTS = _family(
    "avepoint_protected_objects",
    "Objects protected by Cloud Backup for Microsoft 365, per service and module (API field totalProtectedObjects).",
)
# What the documentation says the size is: "The backup data size of objects in the last job" (AvePoint/
# cloud-api docs/elements/general/job/get-customer-cloud-backup-m365-overview.md and the legacy
# docs/docs/services-and-features/elements/data-protection/customers-protected.md), not all data kept.
PROTECTED_BYTES = _family(
    "avepoint_protected_data_bytes",
    "Backup data size of the module's objects in the last job, in AvePoint's storage (storage=avepoint, API field "
    "dataSizeStoredInAvePoint) or the customer's own (storage=byos, dataSizeStoredInBYOS); binary multiples.",
)
# (family, Subscription attribute): the subscription gauges, left out where the API sent N/A.
SUBSCRIPTION_VALUES: tuple[tuple[Family, str], ...] = (
    (
        _family(
            "avepoint_subscription_expiry_timestamp_seconds",
            "When the subscription expires, Unix time (API field expirationDate; a date is midnight UTC).",
        ),
        "expiry",
    ),
    (
        _family("avepoint_subscription_purchased_seats", "User seats purchased (API field purchasedUserSeats)."),
        "purchased_seats",
    ),
    (
        _family("avepoint_subscription_purchased_units", "Units purchased (API field purchasedUnits)."),
        "purchased_units",
    ),
    (
        _family(
            "avepoint_subscription_licenses_assigned",
            "Microsoft licenses assigned (API field microsoftLicenseAssigned).",
        ),
        "licenses_assigned",
    ),
    (
        _family(
            "avepoint_subscription_licenses_available",
            "Microsoft licenses available (API field microsoftLicenseAvailable).",
        ),
        "licenses_available",
    ),
    (
        _family(
            "avepoint_subscription_capacity_purchased_bytes",
            "Storage capacity purchased (API field purchasedCapacity, the total of a used/total value); binary "
            "multiples.",
        ),
        "capacity_purchased_bytes",
    ),
    (
        _family(
            "avepoint_subscription_capacity_protected_bytes",
            "Protected capacity (API field protectedCapacity); binary multiples.",
        ),
        "capacity_protected_bytes",
    ),
    (
        _family(
            "avepoint_subscription_capacity_consumed_bytes",
            "Storage consumed (API field consumedStorage; left out where it is N/A); binary multiples.",
        ),
        "consumed_bytes",
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
    TENANT_INFO,
    CUSTOMER_STATUS,
    PROTECTED_SCANNED,
    PROTECTED_OBJECTS,
    PROTECTED_BYTES,
    *(family for family, _ in SUBSCRIPTION_VALUES),
    JOB_STATUS,
    JOB_INFO,
    JOB_KIND,
    *(family for family, _ in JOB_VALUES),
    LAST_SUCCESS,
    EXPECTED,
)
JOB_FAMILIES = tuple(f for f in FAMILIES[FAMILIES.index(JOB_STATUS) :])


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    # Sorted by name, as prometheus_client writes them.
    return ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(pairs))


def _line(name: str, labels: str, value: float) -> str:
    return f"{name}{{{labels}}} {_go_float(value)}\n" if labels else f"{name} {_go_float(value)}\n"


def customer_lines(cs: CustomerState, endpoints: EndpointsConfig) -> dict[Family, str]:
    """The small per-customer families: refresh state, info, status, tenants, protected data, subscriptions."""
    customer = cs.customer
    cid = customer.id
    parts: dict[Family, list[str]] = {}

    def add(family: Family, labels: list[tuple[str, str]], value: float) -> None:
        parts.setdefault(family, []).append(_line(family.name, _labels(labels), value))

    for endpoint, enabled, attempt in (
        (EP_JOBS, endpoints.jobs, cs.attempt),
        (EP_PROTECTED, endpoints.protected, cs.protected_attempt),
    ):
        if enabled:
            add(REFRESH_OK, [("customer_id", cid), ("endpoint", endpoint)], float(attempt.success))
            if attempt.last_success is not None:
                add(REFRESH_TIME, [("customer_id", cid), ("endpoint", endpoint)], attempt.last_success)
    info = [("country", customer.country), ("customer_id", cid), ("organization", customer.organization)]
    if customer.management_mode:
        info.append(("management_mode", customer.management_mode))
    add(CUSTOMER_INFO, info, 1.0)
    for tenant in customer.tenants:
        add(TENANT_INFO, [("customer_id", cid), ("tenant_id", tenant.id), ("tenant_name", tenant.name)], 1.0)
    add(CUSTOMER_STATUS, [("customer_id", cid), ("status", customer.status)], 1.0)
    for item in cs.protected:
        labels = [("customer_id", cid), ("module", item.module), ("service", item.service)]
        if item.scanned_objects is not None:
            add(PROTECTED_SCANNED, labels, item.scanned_objects)
        if item.protected_objects is not None:
            add(PROTECTED_OBJECTS, labels, item.protected_objects)
        for storage, size in (("avepoint", item.bytes_avepoint), ("byos", item.bytes_byos)):
            if size is not None:
                add(PROTECTED_BYTES, [*labels, ("storage", storage)], size)
    for sub in cs.subscriptions:
        labels = [("customer_id", cid), ("service", sub.service), ("subscription", sub.subscription_name)]
        for family, attr in SUBSCRIPTION_VALUES:
            value = getattr(sub, attr)
            if value is not None:
                add(family, labels, float(value))
    return {family: "".join(lines) for family, lines in parts.items()}


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
        kind = codes.job_kind(job.job_type, job.job_module)
        parts[JOB_KIND].append(_line(JOB_KIND.name, _labels([*base, ("kind", kind)]), 1.0))
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
    fleet_calls = [(EP_CUSTOMERS, snap.listing)]
    if snap.config.endpoints.services:
        fleet_calls.append((EP_SERVICES, snap.services))
    ok, times = [], []
    for endpoint, attempt in fleet_calls:
        labels = _labels([("customer_id", ""), ("endpoint", endpoint)])
        ok.append(_line(REFRESH_OK.name, labels, float(attempt.success)))
        if attempt.last_success is not None:
            times.append(_line(REFRESH_TIME.name, labels, attempt.last_success))
    out = {UP: _line(UP.name, "", 1.0 if snap.up else 0.0), REFRESH_OK: "".join(ok)}
    if snap.last_refresh_seconds is not None:
        out[REFRESH_DURATION] = _line(REFRESH_DURATION.name, "", snap.last_refresh_seconds)
    if times:
        out[REFRESH_TIME] = "".join(times)
    return out


def encode(snap: Snapshot) -> bytes:
    """The whole exposition of a snapshot, uncached (reference path; ExpositionCache is the fast one)."""
    fragments = [global_lines(snap)]
    for cs in snap.customers:
        fragments.append(customer_lines(cs, snap.config.endpoints))
        fragments.append(job_lines(cs.customer.id, cs.jobs, cs.last_success, snap.config.jobs))
    return _join(fragments)


def customer_exposition(snap: Snapshot, customer_id: str) -> bytes | None:
    """One customer's families and avepoint_up (the /probe answer); None if the customer is not exported."""
    cs = next((c for c in snap.customers if c.customer.id == customer_id), None)
    if cs is None:
        return None
    fragments = [
        {UP: _line(UP.name, "", 1.0 if snap.up else 0.0)},
        customer_lines(cs, snap.config.endpoints),
        job_lines(customer_id, cs.jobs, cs.last_success, snap.config.jobs),
    ]
    return _join(fragments)


def _join(fragments: list[dict[Family, str]]) -> bytes:
    out = []
    for family in FAMILIES:
        samples = "".join(f.get(family, "") for f in fragments)
        if samples:  # a family without samples (an endpoint switched off) is left out, header and all
            out.append(family.header + safe.encode(samples))
    return b"".join(out)


# --- incremental assembly and compression -------------------------------------------------------------------

# Customers are compressed in blocks of this many: large enough for deflate to find the label sets that
# repeat from customer to customer (a block per customer doubled the gzip size), small enough that one
# changed customer costs a few milliseconds.
BLOCK = 16


class _Piece:
    """Encoded text of one fragment, per family. Compared by identity: a changed fragment is a new piece."""

    __slots__ = ("plain",)

    def __init__(self, lines: Mapping[Family, str]) -> None:
        # safe.encode: text that cannot be encoded costs a U+FFFD in this fragment, never the exposition.
        self.plain = {family: safe.encode(text) for family, text in lines.items()}


def _deflate(pieces: tuple[_Piece, ...], families: tuple[Family, ...]) -> dict[Family, tuple[bytes, bytes]]:
    """Per family: the pieces' text joined, and its compressed run (see exporter.exposition.deflate)."""
    compressor = deflate.Compressor()
    out = {}
    for family in families:
        data = b"".join(piece.plain.get(family, b"") for piece in pieces)
        if data:
            out[family] = (data, compressor.part(data))
    return out


_HEADERS = {family: _deflate((_Piece({family: family.header.decode()}),), (family,))[family] for family in FAMILIES}
_SMALL = tuple(f for f in FAMILIES if f not in JOB_FAMILIES)


@dataclass(frozen=True)
class Exposition:
    """The encoded data families of one snapshot: text parts in order, and the same text deflated."""

    generation: int
    parts: tuple[bytes, ...]
    deflated: bytes  # gzip header and compressed runs, without the end of the stream
    crc: int  # CRC-32 of the text
    size: int

    @functools.cached_property
    def body(self) -> bytes:
        # Joined only when a client asks for plain text; Prometheus asks for gzip.
        return b"".join(self.parts)

    def gzip_with(self, tail: bytes) -> tuple[bytes, ...]:
        """A complete gzip stream of the text followed by `tail` (the per-scrape metrics), as parts."""
        crc = deflate.crc32_combine(self.crc, zlib.crc32(tail), len(tail))
        return (self.deflated, deflate.compress(tail), deflate.FINAL, deflate.trailer(crc, self.size + len(tail)))

    @property
    def gzipped(self) -> bytes:
        return b"".join(self.gzip_with(b""))


@dataclass(slots=True)
class _CustomerCache:
    small_key: tuple[object, ...]
    small: _Piece
    jobs: tuple[Job, ...]
    last_success: Mapping[ModuleKey, float]
    jobs_cfg: JobsConfig
    large: _Piece


class ExpositionCache:
    """Builds the exposition once per snapshot generation, re-encoding only the customers that changed.

    The refresh state of every customer changes with every cycle, its jobs rarely: the two are encoded
    and compressed apart, so a cycle that changes no job recompresses only the small families.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Exposition | None = None
        self._customers: dict[str, _CustomerCache] = {}
        self._blocks: dict[tuple[_Piece, ...], dict[Family, tuple[bytes, bytes]]] = {}
        self.rebuilt_customers = 0  # customers re-encoded by the last build (for tests and benchmarks)
        self.recompressed_blocks = 0

    def get(self, snap: Snapshot) -> Exposition:
        with self._lock:
            current = self._current
            if current is None or current.generation != snap.generation:
                current = self._current = self._build(snap)
            return current

    def _build(self, snap: Snapshot) -> Exposition:
        jobs_cfg = snap.config.jobs
        fresh: dict[str, _CustomerCache] = {}
        rebuilt = 0
        for cs in snap.customers:
            old = self._customers.get(cs.customer.id)
            entry = self._refreshed(old, cs, jobs_cfg, snap.config.endpoints)
            rebuilt += entry is not old
            fresh[cs.customer.id] = entry
        self._customers = fresh  # customers gone from the snapshot leave the cache
        self.rebuilt_customers = rebuilt

        entries = list(fresh.values())
        groups = [(_deflate((_Piece(global_lines(snap)),), FAMILIES), FAMILIES)]
        blocks: dict[tuple[_Piece, ...], dict[Family, tuple[bytes, bytes]]] = {}
        recompressed = 0
        for i in range(0, len(entries), BLOCK):
            members = entries[i : i + BLOCK]
            for key, families in (
                (tuple(e.small for e in members), _SMALL),
                (tuple(e.large for e in members), JOB_FAMILIES),
            ):
                block = self._blocks.get(key)
                if block is None:
                    block = _deflate(key, families)
                    recompressed += 1
                blocks[key] = block
                groups.append((block, families))
        self._blocks = blocks
        self.recompressed_blocks = recompressed

        plain: list[bytes] = []
        packed: list[bytes] = [deflate.HEADER]
        for family in FAMILIES:
            present = [part for block, _ in groups if (part := block.get(family)) is not None]
            if not present:
                continue  # no samples: no header either
            header, header_packed = _HEADERS[family]
            plain.append(header)
            packed.append(header_packed)
            for text, compressed in present:
                plain.append(text)
                packed.append(compressed)
        return Exposition(snap.generation, tuple(plain), b"".join(packed), deflate.crc32(plain), sum(map(len, plain)))

    @staticmethod
    def _refreshed(
        old: _CustomerCache | None, cs: CustomerState, jobs_cfg: JobsConfig, endpoints: EndpointsConfig
    ) -> _CustomerCache:
        cid = cs.customer.id
        small_key = (cs.customer, cs.attempt, cs.protected_attempt, cs.protected, cs.subscriptions, endpoints)
        if old is None:
            return _CustomerCache(
                small_key,
                _Piece(customer_lines(cs, endpoints)),
                cs.jobs,
                cs.last_success,
                jobs_cfg,
                _Piece(job_lines(cid, cs.jobs, cs.last_success, jobs_cfg)),
            )
        small, large = old.small, old.large
        same_small = old.small_key == small_key
        # Identity first: the refresher keeps the same objects when nothing changed, so this is cheap.
        same_large = (
            (old.jobs is cs.jobs or old.jobs == cs.jobs)
            and (old.last_success is cs.last_success or old.last_success == cs.last_success)
            and (old.jobs_cfg is jobs_cfg or old.jobs_cfg == jobs_cfg)
        )
        if same_small and same_large:
            return old
        if not same_small:
            small = _Piece(customer_lines(cs, endpoints))
        if not same_large:
            large = _Piece(job_lines(cid, cs.jobs, cs.last_success, jobs_cfg))
        return _CustomerCache(small_key, small, cs.jobs, cs.last_success, jobs_cfg, large)
