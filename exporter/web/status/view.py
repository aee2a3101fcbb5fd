"""The status page's view model: what it shows of a snapshot (customers, cells, refreshes, health, coverage,
seats). Pure.

A view holds absolute times, not ages: the renderers compute every age from `Status.generated` (`age()`), so
a customer's Row depends on the clock only through its staleness (rows.py reuses Rows on that ground). A Row is
made in two steps: its Body (the cells, from the customer's data) and `finish` (the refreshes, from its attempts),
so that rows.py can keep the Body across refreshes that brought nothing new.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from exporter import codes, safe
from exporter.model import (
    GROUP_JOBS,
    GROUP_PROTECTED,
    GROUP_SCAN_PROFILES,
    GROUP_SEATS,
    GROUP_SERVICES,
    Attempt,
    CustomerState,
    Failure,
    Job,
    Outcome,
    ProtectedData,
    Snapshot,
    TenantSeats,
)
from exporter.shard import Shard
from exporter.web.status import scan_profiles
from exporter.web.status.scan_profiles import ScanCell

# Same factor as the AvePointBackupStale alert: a module is stale past 1.5 expected intervals.
STALE_FACTOR = 1.5

_PROBLEM_OUTCOMES = frozenset({Outcome.FAILED, Outcome.WARNING, Outcome.CANCELED, Outcome.UNKNOWN})
# The order of the reasons in a row's summary.
_REASON_ORDER = ("failed", "warning", "canceled", "unknown", "stale", "never run", "with failed objects")
# Customer health, worst first: the order of the rows.
FAILED, WARNING, PENDING, OK = "failed", "warning", "pending", "ok"
HEALTH_RANK = {FAILED: 0, WARNING: 1, PENDING: 2, OK: 3}
PROBLEMS = frozenset({FAILED, WARNING})


def age(since: float | None, now: float) -> float | None:
    """Seconds from `since` to `now`, never negative; None without a time. Every age the page shows."""
    return None if since is None else max(0.0, now - since)


@dataclass(frozen=True, slots=True)
class Process:
    """What the page says about this process; fixed for its life."""

    version: str
    started: float  # Unix time
    shard: Shard = field(default_factory=Shard)


@dataclass(frozen=True, slots=True)
class Refresh:
    """The last refresh of one endpoint (of one customer, or fleet-wide)."""

    endpoint: str
    attempted: bool
    success: bool
    last_success: float | None  # its age on the page: age(last_success, Status.generated)
    error: Failure | None


class Cell(NamedTuple):
    """One job type/module of a customer. (A named tuple: thousands are built per page, and frozen
    dataclasses are several times slower to construct.)"""

    job_type: str
    job_module: str
    status: str
    outcome: Outcome
    job_name: str | None
    failed_objects: int | None
    end_time: float | None
    last_success: float | None  # its age on the page: age(last_success, Status.generated)
    expected_interval: float
    stale: bool  # as of Status.generated
    never_run: bool
    kind: str = codes.KIND_BACKUP

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the cell is a problem, in the words of the row's summary; empty when it is none.

        Only backups count: a scan, archiver or retention job is shown but is no backup problem.
        """
        if self.kind != codes.KIND_BACKUP:
            return ()
        found: tuple[str, ...] = (self.outcome.value.replace("_", " "),) if self.outcome in _PROBLEM_OUTCOMES else ()
        if self.stale:
            found += ("stale",)
        if self.never_run:
            found += ("never run",)
        if (self.failed_objects or 0) > 0 and self.outcome is not Outcome.FAILED:
            found += ("with failed objects",)
        return found


class Coverage(NamedTuple):
    """Protected against scanned objects of one service module (endpoints.protected); as the recording rule
    avepoint:protected_coverage_ratio, no ratio where nothing was scanned."""

    service: str
    module: str
    protected: int | None
    scanned: int | None

    @property
    def ratio(self) -> float | None:
        if self.protected is None or not self.scanned:
            return None
        return self.protected / self.scanned


class Seats(NamedTuple):
    """The user seats of one tenant (v3, endpoints.services); `share` assigned of all, as AvePointSeatsNearlyUsedUp
    judges it."""

    tenant_type: str
    tenant_id: str
    tenant_name: str
    assigned: int | None
    available: int | None

    @property
    def share(self) -> float | None:
        if self.assigned is None or self.available is None or not self.assigned + self.available:
            return None
        return self.assigned / (self.assigned + self.available)


# Over this share of its seats assigned, a tenant is marked on the page (the mixin's seatsRatio).
SEATS_RATIO = 0.9


def total_coverage(lines: tuple[Coverage, ...]) -> tuple[int, int, float] | None:
    """Protected and scanned objects summed over the modules that have both (scanned > 0), and their ratio."""
    counted = [(c.protected or 0, c.scanned or 0) for c in lines if c.ratio is not None]
    protected, scanned = sum(p for p, _ in counted), sum(n for _, n in counted)
    return (protected, scanned, protected / scanned) if scanned else None


@dataclass(frozen=True, slots=True)
class Row:
    """One customer."""

    customer_id: str
    organization: str
    country: str
    status: str
    health: str
    reasons: tuple[str, ...]
    cells: tuple[Cell, ...]
    refresh: tuple[Refresh, ...]  # jobs first; protected data and scan profiles when enabled; seats (v3, with services)
    scan_profiles: tuple[ScanCell, ...] = ()
    coverage: tuple[Coverage, ...] = ()
    seats: tuple[Seats, ...] = ()

    def data_age(self, now: float) -> float | None:
        return age(self.refresh[0].last_success, now) if self.refresh else None


@dataclass(frozen=True, slots=True)
class Header:
    version: str
    started: float
    api_base_url: str
    api_version: str
    auth_method: str
    shard_index: int
    shard_count: int
    cache_ttl: float
    up: bool
    ready: bool
    listing: Refresh
    services: Refresh | None
    last_refresh_seconds: float | None
    customers: int
    problem_customers: int
    jobs: int
    scan_profiles: bool = False  # endpoints.scan_profiles: the page has a column for them
    coverage: bool = False  # endpoints.protected: the Coverage column
    seats: bool = False  # v3 with endpoints.services: the Seats column


@dataclass(frozen=True, slots=True)
class Status:
    generation: int
    generated: float  # Unix time the page was built: every age on it is as of this time
    header: Header
    modules: tuple[tuple[str, str], ...]  # the columns: every (job type, module) of the fleet, sorted
    rows: tuple[Row, ...]  # problems first


def build(snap: Snapshot, process: Process, now: float) -> Status:
    """The view of a snapshot at `now` (wall time), every row built. Pure."""
    rows = sorted((row(cs, snap, now) for cs in snap.customers), key=order)
    return assemble(snap, process, now, tuple(rows), modules(cs.jobs for cs in snap.customers))


def order(r: Row) -> tuple[int, str, str]:
    """The rows' sort key: worst health first, then by organization and id."""
    return HEALTH_RANK[r.health], r.organization.casefold(), r.customer_id


def modules(jobs: Iterable[Iterable[Job]]) -> frozenset[tuple[str, str]]:
    """The (job type, module) pairs of customers' jobs."""
    return frozenset((job.job_type, job.job_module) for some in jobs for job in some)


def assemble(
    snap: Snapshot, process: Process, now: float, rows: tuple[Row, ...], columns: Iterable[tuple[str, str]]
) -> Status:
    """The view of `snap` at `now` from its rows (in order) and the (job type, module) pairs of its jobs."""
    cfg = snap.config
    header = Header(
        version=process.version,
        started=process.started,
        api_base_url=safe.public_url(cfg.api.base_url),
        api_version=cfg.api.version,
        auth_method=cfg.auth.method,
        shard_index=process.shard.index,
        shard_count=process.shard.count,
        cache_ttl=cfg.cache.ttl,
        up=snap.up,
        ready=snap.refreshed,
        listing=_refresh("customers", snap.listing, attempted=snap.refreshed),
        services=_refresh(GROUP_SERVICES, snap.services) if cfg.endpoints.services else None,
        last_refresh_seconds=snap.last_refresh_seconds,
        customers=len(rows),
        problem_customers=sum(r.health in PROBLEMS for r in rows),
        jobs=sum(len(cs.jobs) for cs in snap.customers),
        scan_profiles=cfg.endpoints.scan_profiles,
        coverage=cfg.endpoints.protected,
        seats=snap.config.reads_seats,
    )
    return Status(snap.generation, now, header, tuple(sorted(columns)), rows)


class Body(NamedTuple):
    """The costly part of a customer's Row: what follows from its data (customer.applied keeps those objects when
    a refresh brought nothing new), the config and, through staleness and silence, the time; not its attempts,
    which every refresh replaces. rows.py keeps it across such refreshes; `finish` adds the attempts."""

    cells: tuple[Cell, ...]
    scan_profiles: tuple[ScanCell, ...]
    coverage: tuple[Coverage, ...]
    seats: tuple[Seats, ...]
    reasons: tuple[str, ...]  # the cells' and scan profiles', in the summary's order
    failed: bool  # some backup cell failed: the row's health is FAILED whatever its refreshes


# The CustomerState fields a Body follows from (besides the customer's id, and the config): when each is the
# same object as a kept Body's, the Body holds (within its staleness window, rows.window).
BODY_FIELDS = ("jobs", "last_success", "scan_profiles", "protected", "seats")


def row(cs: CustomerState, snap: Snapshot, now: float) -> Row:
    """One customer's row at `now`: what it shows follows from `cs` and `snap.config`, and from `now` only
    through its cells' staleness and its scan profiles' silence."""
    return finish(cs, snap, body(cs, snap, now))


def body(cs: CustomerState, snap: Snapshot, now: float) -> Body:
    """The part of `cs`'s row that follows from the BODY_FIELDS of `cs`, its id and `snap.config`, at `now`."""
    interval = snap.config.jobs.expected_interval_for
    cid = cs.customer.id
    cells = tuple(_cell(cid, job, cs.last_success.get(job.key), interval, now) for job in cs.jobs)
    scan = scan_profiles.cells(cs.scan_profiles, now) if snap.config.endpoints.scan_profiles else ()
    counts: dict[str, int] = dict.fromkeys(_REASON_ORDER, 0)
    for c in cells:
        for reason in c.reasons:
            counts[reason] += 1
    reasons = [f"{n} {what}" for what, n in counts.items() if n]
    reasons.extend(scan_profiles.reasons(scan))
    return Body(
        cells,
        scan,
        tuple(_coverage(item) for item in cs.protected) if snap.config.endpoints.protected else (),
        tuple(_seats(item) for item in cs.seats) if snap.config.reads_seats else (),
        tuple(reasons),
        counts["failed"] > 0,
    )


def finish(cs: CustomerState, snap: Snapshot, part: Body) -> Row:
    """`cs`'s row from its Body (`part`, made from the same data and config): the customer, its refreshes, and
    the reasons and health that follow from both. Cheap: a few objects per row."""
    endpoints = snap.config.endpoints
    refresh: list[Refresh] = []
    if endpoints.jobs:
        refresh.append(_refresh(GROUP_JOBS, cs.attempt))
    if endpoints.protected:
        refresh.append(_refresh(GROUP_PROTECTED, cs.protected_attempt))
    if endpoints.scan_profiles:
        refresh.append(_refresh(GROUP_SCAN_PROFILES, cs.scan_profiles_attempt))
    if snap.config.reads_seats and cs.seats_attempt is not None:
        refresh.append(_refresh(GROUP_SEATS, cs.seats_attempt))
    reasons = part.reasons
    failed = tuple(f"{r.endpoint} refresh failed" for r in refresh if r.error is not None)
    if failed:
        reasons += failed
    if part.failed:
        health = FAILED
    elif reasons:
        health = WARNING
    elif refresh and not all(r.attempted for r in refresh):
        health = PENDING
    else:
        health = OK
    customer = cs.customer
    return Row(
        customer.id,
        customer.organization,
        customer.country,
        customer.status,
        health,
        reasons,
        part.cells,
        tuple(refresh),
        part.scan_profiles,
        part.coverage,
        part.seats,
    )


def _coverage(item: ProtectedData) -> Coverage:
    return Coverage(item.service, item.module, item.protected_objects, item.scanned_objects)


def _seats(item: TenantSeats) -> Seats:
    return Seats(item.tenant_type, item.tenant_id, item.tenant_name, item.assigned, item.available)


def _cell(
    customer_id: str,
    job: Job,
    last_success: float | None,
    interval_for: Callable[[str, str, str], float],
    now: float,
) -> Cell:
    expected = interval_for(customer_id, job.job_type, job.job_module)
    since = age(last_success, now)
    return Cell(
        job_type=job.job_type,
        job_module=job.job_module,
        status=job.status,
        outcome=job.outcome,
        job_name=job.name,
        failed_objects=job.failed_objects,
        end_time=job.end_time,
        last_success=last_success,
        expected_interval=expected,
        stale=since is not None and since > STALE_FACTOR * expected,
        # The AvePointBackupNeverRun alert's test: a module without a job id.
        never_run=not job.job_id and job.outcome is Outcome.NOT_RUN,
        kind=codes.job_kind(job.job_type, job.job_module),
    )


def _refresh(endpoint: str, attempt: Attempt, attempted: bool | None = None) -> Refresh:
    tried = attempted if attempted is not None else (attempt.success or attempt.error is not None)
    return Refresh(
        endpoint=endpoint,
        attempted=tried,
        success=attempt.success,
        last_success=attempt.last_success,
        error=None if attempt.error is None else attempt.error,
    )


__all__ = [
    "BODY_FIELDS",
    "FAILED",
    "HEALTH_RANK",
    "OK",
    "PENDING",
    "PROBLEMS",
    "SEATS_RATIO",
    "STALE_FACTOR",
    "WARNING",
    "Body",
    "Cell",
    "Coverage",
    "Header",
    "Process",
    "Refresh",
    "Row",
    "Seats",
    "Status",
    "age",
    "assemble",
    "body",
    "build",
    "finish",
    "modules",
    "order",
    "row",
    "total_coverage",
]
