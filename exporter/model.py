"""The typed records the exporter passes between layers: customers, jobs, protected data, subscriptions."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Outcome(enum.StrEnum):
    """What a job status means for someone on call; the `outcome` label."""

    SUCCESS = "success"
    WARNING = "warning"
    FAILED = "failed"
    RUNNING = "running"
    CANCELED = "canceled"
    NOT_RUN = "not_run"
    UNKNOWN = "unknown"


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

    @property
    def key(self) -> tuple[str, str]:
        return (self.job_type, self.job_module)


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
