"""One customer's refresh: each endpoint group fetched and parsed on its own, and the result applied to its state.

A group's failure is a typed Failure beside the other groups' records: a missing scope for one (403) must not
hide the others, and the last good data of a failed group stays (None means "nothing new").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from exporter.config import Config, EndpointsConfig
from exporter.errors import ApiError
from exporter.model import (
    Attempt,
    CustomerState,
    Failure,
    Job,
    ModuleKey,
    ProtectedData,
    Runs,
    ScanProfile,
    TenantSeats,
)
from exporter.refresh import fetch, records
from exporter.refresh.fetch import ApiClient
from exporter.refresh.parse_log import ParseLog

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one refresh of a customer brought, per group: new records (None: not asked, or failed) and why not."""

    jobs: tuple[Job, ...] | None = None
    jobs_error: Failure | None = None
    protected: tuple[ProtectedData, ...] | None = None
    protected_error: Failure | None = None
    profiles: tuple[ScanProfile, ...] | None = None
    scan_error: Failure | None = None
    seats: tuple[TenantSeats, ...] | None = None
    seats_error: Failure | None = None

    @classmethod
    def failed(cls, config: Config, error: Failure) -> Fetched:
        """Every group failed with `error` (the listing's token error, or a bug); the seats only where read."""
        return cls(
            jobs_error=error,
            protected_error=error,
            scan_error=error,
            seats_error=error if config.reads_seats else None,
        )


def failed(message: str, exc: ApiError, customer_id: str = "") -> Failure:
    """Log a group's failure once, with what the upstream said, and keep it as a Failure for the page."""
    log.warning(
        message,
        extra={
            "customer_id": customer_id,
            "endpoint": exc.endpoint,
            "error": str(exc),
            "error_class": type(exc).__name__,
        },
    )
    return Failure.of(exc)


def fetched(config: Config, client: ApiClient, customer_id: str, bad: ParseLog) -> Fetched:
    """Ask the API for every enabled group of one customer, each on its own."""
    out: dict[str, Any] = {}
    if config.endpoints.jobs:
        try:
            out["jobs"] = records.jobs(config, fetch.jobs(config, client, customer_id), customer_id, bad)
        except ApiError as exc:
            out["jobs_error"] = failed("refreshing customer failed, keeping its last good data", exc, customer_id)
    if config.endpoints.protected:
        try:
            out["protected"] = records.protected(client.protected(customer_id), customer_id, bad)
        except ApiError as exc:
            out["protected_error"] = failed(
                "refreshing protected data failed, keeping the last good data", exc, customer_id
            )
    if config.endpoints.scan_profiles:
        try:
            pairs = fetch.scan_profiles(config, client, customer_id)
            out["profiles"] = records.scan_profiles(config, pairs, customer_id, bad)
        except ApiError as exc:
            out["scan_error"] = failed("refreshing scan profiles failed, keeping the last good data", exc, customer_id)
    if config.reads_seats:
        try:
            out["seats"] = records.seats(fetch.seats(config, client, customer_id), customer_id, bad)
        except ApiError as exc:
            out["seats_error"] = failed("refreshing user seats failed, keeping the last good data", exc, customer_id)
    return Fetched(**out)


def applied(
    current: CustomerState,
    got: Fetched,
    enabled: EndpointsConfig,
    now: float,
    remember: Callable[[tuple[Job, ...]], tuple[Mapping[ModuleKey, float], Mapping[ModuleKey, Runs]]],
) -> CustomerState:
    """`current` after the refresh `got`: new data where it came, the attempt of each enabled group.

    `remember` gives the last successes and run counts of new jobs (the refresher's memories). The seats'
    attempt is recorded only where the seats were asked for (or failed before they could be). Objects that did
    not change are kept: the exposition re-encodes a customer whose objects changed.
    """
    changes: dict[str, Any] = {}
    if enabled.jobs:
        changes["attempt"] = current.attempt.after(got.jobs_error, now)
    if got.jobs is not None:
        seen, runs = remember(got.jobs)
        if got.jobs != current.jobs or seen != current.last_success or runs != current.runs:
            changes.update(jobs=got.jobs, last_success=seen, runs=runs)
    if enabled.protected:
        changes["protected_attempt"] = current.protected_attempt.after(got.protected_error, now)
    if got.protected is not None and got.protected != current.protected:
        changes["protected"] = got.protected
    if enabled.scan_profiles:
        changes["scan_profiles_attempt"] = current.scan_profiles_attempt.after(got.scan_error, now)
    if got.profiles is not None and got.profiles != current.scan_profiles:
        changes["scan_profiles"] = got.profiles
    if got.seats is not None or got.seats_error is not None:
        changes["seats_attempt"] = (current.seats_attempt or Attempt()).after(got.seats_error, now)
    if got.seats is not None and got.seats != current.seats:
        changes["seats"] = got.seats
    return replace(current, **changes)
