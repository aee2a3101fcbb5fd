"""API rows into the records a snapshot holds: each row parsed, duplicates dropped, bad values counted."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar

from exporter.config import Config
from exporter.errors import ResponseFormatError
from exporter.model import (
    GROUP_JOBS,
    GROUP_SCAN_PROFILES,
    Customer,
    Job,
    Outcome,
    ProtectedData,
    ScanProfile,
    Subscription,
    TenantSeats,
)
from exporter.refresh.parse_log import ParseLog
from exporter.upstream import parse
from exporter.upstream.scan_rows import scan_profile, status_outcome

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def customers(rows: list[Any], bad: ParseLog) -> list[Customer]:
    """The usable customers of the listing, in its order."""
    found: list[Customer] = []
    for row in rows:
        customer, errors = parse.customer(row) if isinstance(row, dict) else (None, ["customer"])
        bad.count(errors, customer.id if customer is not None else "")
        if customer is not None:
            found.append(customer)
    return found


def subscriptions(elements: list[Any], bad: ParseLog) -> dict[str, list[Subscription]]:
    """The subscriptions of the services answer, by customer id."""
    by_customer: dict[str, list[Subscription]] = {}
    for element in elements:
        subs, errors = parse.subscriptions(element) if isinstance(element, dict) else ([], ["services"])
        bad.count(errors, subs[0].customer_id if subs else "")
        for sub in subs:
            by_customer.setdefault(sub.customer_id, []).append(sub)
    return by_customer


def jobs(config: Config, rows: list[Any], customer_id: str, bad: ParseLog) -> tuple[Job, ...]:
    """One job per module, the newest where rows repeat one; ResponseFormatError if no row is usable."""
    by_key: dict[tuple[str, str], Job] = {}
    for row in rows:
        job, errors = parse.job(row, config.jobs.status_outcomes) if isinstance(row, dict) else (None, ["job"])
        if errors:
            where = {"job_type": job.job_type, "job_module": job.job_module} if job is not None else {}
            bad.count(errors, customer_id, where)
        if job is None:
            continue
        # Two rows for one module would make duplicate series; keep the newer one.
        other = by_key.get(job.key)
        if other is None or _newness(job) >= _newness(other):
            by_key[job.key] = job
    if rows and not by_key:
        # Rows, but not one usable: a broken answer, not a customer without jobs. Keep the last good data.
        raise ResponseFormatError(f"none of the {len(rows)} job rows is usable", endpoint=GROUP_JOBS)
    return tuple(sorted(by_key.values(), key=lambda j: j.key))


def protected(rows: list[Any], customer_id: str, bad: ParseLog) -> tuple[ProtectedData, ...]:
    """One item per (service, module), the first where rows repeat one."""
    found = _first_per_key(
        (parse.protected(row) if isinstance(row, dict) else (None, ["protected"]) for row in rows),
        lambda item: (item.service, item.module),
        lambda item: {"service_type": item.service, "service_module": item.module},
        customer_id,
        bad,
    )
    return tuple(found[key] for key in sorted(found))


def scan_profiles(
    config: Config, pairs: list[tuple[Any, dict[str, Any] | None]], customer_id: str, bad: ParseLog
) -> tuple[ScanProfile, ...]:
    """One record per profile id, the first where rows repeat one; ResponseFormatError if no row is usable."""
    overrides = config.jobs.status_outcomes
    found = _first_per_key(
        (
            scan_profile(row, summary, overrides) if isinstance(row, dict) else (None, ["scanProfile"])
            for row, summary in pairs
        ),
        lambda item: item.profile_id,
        lambda item: {"profile_id": item.profile_id},
        customer_id,
        bad,
    )
    if pairs and not found:
        raise ResponseFormatError(f"none of the {len(pairs)} scan profile rows is usable", endpoint=GROUP_SCAN_PROFILES)
    return tuple(found[key] for key in sorted(found))


def scan_outcome(profile: ScanProfile, overrides: Mapping[str, Outcome]) -> Outcome:
    """A held profile's outcome under other status mappings (a reload): nothing is fetched again."""
    return status_outcome(profile.status, overrides)


def seats(rows: list[tuple[str, Any]], customer_id: str, bad: ParseLog) -> tuple[TenantSeats, ...]:
    """One item per (tenant type, tenant id), the first where rows repeat one; `rows` pair the type asked with a row."""
    found = _first_per_key(
        (
            parse.tenant_seats(row, requested) if isinstance(row, dict) else (None, ["tenantId"])
            for requested, row in rows
        ),
        lambda item: (item.tenant_type, item.tenant_id),
        lambda item: {"tenant_type": item.tenant_type, "tenant_id": item.tenant_id},
        customer_id,
        bad,
    )
    return tuple(found[key] for key in sorted(found))


def _first_per_key(
    parsed: Iterable[tuple[T | None, list[str]]],
    key: Callable[[T], K],
    where: Callable[[T], dict[str, str]],
    customer_id: str,
    bad: ParseLog,
) -> dict[K, T]:
    """The parsed items by `key`, the first where rows repeat one (a duplicate would repeat a series); each row's
    bad fields counted, with `where` the item's labels when it was usable."""
    found: dict[K, T] = {}
    for item, errors in parsed:
        if errors:
            bad.count(errors, customer_id, where(item) if item is not None else {})
        if item is not None:
            found.setdefault(key(item), item)
    return found


def unique_subscriptions(subs: list[Subscription]) -> tuple[Subscription, ...]:
    """One per (service, subscription name): a repeated pair would export duplicate series."""
    found: dict[tuple[str, str], Subscription] = {}
    for sub in subs:
        found.setdefault((sub.service, sub.subscription_name), sub)
    return tuple(found[key] for key in sorted(found))


def outcome(job: Job, overrides: Mapping[str, Outcome]) -> Outcome:
    if job.never_ran:  # as parse.job decided it from the row
        return Outcome.NOT_RUN
    return parse.outcome(job.status, overrides)


def _newness(job: Job) -> float:
    return job.last_modified or job.end_time or job.start_time or 0.0
