"""The typed records the exporter passes between layers: customers, jobs, protected data, subscriptions, scan
profiles, and the snapshot of all of them that the refresher publishes for the exposition and the web layer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from exporter.codes import Outcome
from exporter.errors import ApiError

if TYPE_CHECKING:
    from exporter.config import Config

# The endpoint groups, as the `endpoint` label of the refresh metrics names them (not the route templates
# of exporter/upstream/routes.py, which name one request each).
GROUP_CUSTOMERS = "customers"
GROUP_JOBS = "jobs"
GROUP_PROTECTED = "protected"
GROUP_SERVICES = "services"
GROUP_SCAN_PROFILES = "scan_profiles"
# The user seats of each tenant (v3 only), read per customer with the subscriptions (endpoints.services).
GROUP_SEATS = "seats"

__all__ = [
    "FINISHED",
    "GROUP_CUSTOMERS",
    "GROUP_JOBS",
    "GROUP_PROTECTED",
    "GROUP_SCAN_PROFILES",
    "GROUP_SEATS",
    "GROUP_SERVICES",
    "INTERNAL",
    "Attempt",
    "Customer",
    "CustomerState",
    "Failure",
    "Job",
    "JobKey",
    "ModuleKey",
    "Outcome",
    "ProtectedData",
    "Runs",
    "ScanProfile",
    "Snapshot",
    "Subscription",
    "Tenant",
    "TenantSeats",
]

ModuleKey = tuple[str, str]  # job type, job module
JobKey = tuple[str, str, str]  # customer id, job type, job module


@dataclass(frozen=True, slots=True)
class Tenant:
    """A Microsoft 365 tenant of a customer (v3 only: the legacy customer list has none)."""

    id: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Customer:
    """One customer of the partner, as the customers list (legacy or v3) gives it.

    The owner e-mail address is deliberately not kept: it is personal data and no metric needs it.
    `management_mode` and `tenants` come from v3 only; legacy leaves them "" and ().
    """

    id: str
    organization: str
    country: str
    status: str
    management_mode: str = ""
    tenants: tuple[Tenant, ...] = ()


@dataclass(frozen=True, slots=True)
class Job:
    """The latest backup job of one (job type, module) of a customer.

    Every number is None when the API sent `N/A`, nothing, or something unparseable: such a value is
    left out of the exposition, never exported as 0. Times are Unix seconds (UTC).
    """

    job_type: str
    job_module: str
    job_id: str | None
    name: str | None
    status: str
    outcome: Outcome
    objects: int | None = None
    failed_objects: int | None = None
    successful_objects: int | None = None
    skipped_objects: int | None = None
    warning_objects: int | None = None
    size_bytes: float | None = None
    duration_seconds: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    last_modified: float | None = None
    # No job id and no start time as the API sent them: the module never ran, whatever its status says
    # (decided once, in parse, so a reload that remaps statuses cannot decide it differently).
    never_ran: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.job_type, self.job_module)


# The outcomes of a finished run, in the order Runs counts them (running and not_run are not finished).
FINISHED: tuple[Outcome, ...] = (Outcome.SUCCESS, Outcome.WARNING, Outcome.FAILED, Outcome.CANCELED, Outcome.UNKNOWN)


class Runs(NamedTuple):
    """The finished runs of one job this exporter counted, per outcome, since `since` (wall time of its first
    sight). A tuple, replaced when a run is counted: one small object per job (see exporter/refresh/runs.py)."""

    since: float
    success: int = 0
    warning: int = 0
    failed: int = 0
    canceled: int = 0
    unknown: int = 0

    def counted(self, outcome: Outcome) -> Runs:
        """These counts with one more run of `outcome` (one of FINISHED)."""
        return self._replace(**{outcome.value: getattr(self, outcome.value) + 1})


@dataclass(frozen=True, slots=True)
class ProtectedData:
    """What Cloud Backup for Microsoft 365 protects of one service module of a customer.

    None where the API sent `N/A`: a customer storing in BYOS has no AvePoint-stored size.
    """

    service: str
    module: str
    scanned_objects: int | None = None
    protected_objects: int | None = None
    bytes_avepoint: float | None = None
    bytes_byos: float | None = None


@dataclass(frozen=True, slots=True)
class ScanProfile:
    """One scan profile of a customer: its listing row and its daily summary (endpoints.scan_profiles).

    `status` is the last scan's status as sent (a code as its documented name), `outcome` what it means,
    as for jobs. Every time and count is None where the API sent `N/A`, nothing or something unparseable.
    The counts are those of the profile's latest daily report: objects newly registered, moved to another
    container, and removed from Microsoft 365 or out of policy.
    """

    profile_id: str
    name: str
    status: str = ""
    outcome: Outcome = Outcome.UNKNOWN
    last_update: float | None = None
    modified: float | None = None
    new_objects: int | None = None
    moved_objects: int | None = None
    out_of_policy_objects: int | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    """One product subscription of a customer, from the services list. None where the API sent `N/A`.

    Times are Unix seconds (a bare date is midnight UTC); sizes are bytes with binary multiples.
    `storage` is text as sent (the simulator sends where data is stored, "AvePoint Storage" or
    "BYOS"; AvePoint does not document it).
    """

    customer_id: str
    service: str
    subscription_name: str = ""
    model: str = ""
    storage: str = ""
    expiry: float | None = None
    contract_end: float | None = None
    purchased_seats: int | None = None
    purchased_units: int | None = None
    licenses_assigned: int | None = None
    licenses_available: int | None = None
    capacity_purchased_bytes: float | None = None
    capacity_protected_bytes: float | None = None
    consumed_bytes: float | None = None


@dataclass(frozen=True, slots=True)
class TenantSeats:
    """The user seats of one tenant of a customer, from v3's
    `customers/{customerId}/3rd-party-products/type/{type}/tenants/batch` (AvePoint/cloud-api
    docs/elements/general/tenant/get-3rd-party-products-tenant-type.md); the legacy routes have none.

    `tenant_type` is the type's name ("Microsoft 365", "Salesforce", "Google", "Dynamics 365"). The
    counts are None where the API sent nothing usable. `available` is read as the seats not yet
    assigned (the page says only "the number of available user seats"; see the README's open questions).
    """

    tenant_type: str
    tenant_id: str
    tenant_name: str = ""
    assigned: int | None = None
    available: int | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a refresh failed, kept as fields until a page or a log line formats it. Never holds a secret:
    exporter errors are written not to, and the ids are the upstream's, checked to look like ids."""

    kind: str  # the error's class name, e.g. HTTPStatusError; InternalError for a bug of the exporter's
    message: str
    request_id: str | None = None
    trace_id: str | None = None

    @classmethod
    def of(cls, exc: ApiError) -> Failure:
        return cls(type(exc).__name__, exc.message, exc.request_id, exc.trace_id)

    def __str__(self) -> str:
        ids = [f"request id {self.request_id}"] if self.request_id else []
        ids += [f"trace id {self.trace_id}"] if self.trace_id else []
        return f"{self.kind}: {self.message}" + (f" ({', '.join(ids)})" if ids else "")


# What a failure that is not the upstream's fault shows as; its traceback is in the log.
INTERNAL = Failure("InternalError", "internal error, see the log")


@dataclass(frozen=True, slots=True)
class Attempt:
    """The last refresh of one endpoint (of one customer): did it work, and when did it last work."""

    success: bool = False
    last_success: float | None = None
    error: Failure | None = None

    def after(self, error: Failure | None, now: float) -> Attempt:
        if error is None:
            return Attempt(True, now, None)
        return Attempt(False, self.last_success, error)


@dataclass(frozen=True, slots=True)
class CustomerState:
    """One customer as last fetched. Replaced, never mutated: the exposition caches by identity and equality."""

    customer: Customer
    jobs: tuple[Job, ...] = ()
    attempt: Attempt = field(default_factory=Attempt)
    # End of the newest successful (or warning) job seen per module, for the modules listed in `jobs`.
    last_success: Mapping[ModuleKey, float] = field(default_factory=dict)
    protected: tuple[ProtectedData, ...] = ()
    protected_attempt: Attempt = field(default_factory=Attempt)
    subscriptions: tuple[Subscription, ...] = ()
    seats: tuple[TenantSeats, ...] = ()
    # None while the seats route was never asked for this customer (legacy, or endpoints.services off).
    seats_attempt: Attempt | None = None
    # The runs counted per module, for the modules listed in `jobs` (exporter/refresh/runs.py). Last, so the
    # positional fields before it keep their places.
    runs: Mapping[ModuleKey, Runs] = field(default_factory=dict)
    scan_profiles: tuple[ScanProfile, ...] = ()
    scan_profiles_attempt: Attempt = field(default_factory=Attempt)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the exposition and the web layer need, immutable. `generation` changes whenever the data changes."""

    generation: int
    config: Config
    up: bool
    listing: Attempt
    customers: tuple[CustomerState, ...]
    refreshed: bool  # a first refresh has been attempted (readiness)
    last_refresh_seconds: float | None = None
    services: Attempt = field(default_factory=Attempt)

    @property
    def last_success(self) -> dict[JobKey, float]:
        """Every exported last-success time, keyed by (customer id, job type, job module)."""
        return {(cs.customer.id, *key): ts for cs in self.customers for key, ts in cs.last_success.items()}
