"""The typed records the exporter passes between layers: customers, jobs, per-customer snapshots."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


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
class Customer:
    """One customer of the partner, as `GET /partner/customers` lists it.

    The owner e-mail address is deliberately not kept: it is personal data and no metric needs it.
    """

    id: str
    organization: str
    country: str
    status: str


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
class CustomerJobs:
    """Everything fetched for one customer in one refresh, with the fields that did not parse."""

    customer_id: str
    jobs: tuple[Job, ...]
    parse_errors: tuple[str, ...] = field(default=())
