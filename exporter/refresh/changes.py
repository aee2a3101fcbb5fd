"""What a configuration change makes due: a reload must cost the API nothing the change does not need."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.config import Config


@dataclass(frozen=True, slots=True)
class Due:
    """Which cached answers a change makes stale; nothing set: the data held stays, only its meaning may change."""

    everything: bool = False
    listing: bool = False
    customers: bool = False  # every customer's jobs, protected data, scan profiles and (v3) user seats
    services: bool = False


def due(old: Config, new: Config) -> Due:
    """Another source (api.base_url, api.token_url, api.version, auth.client_id) or another cache.ttl makes
    everything due; `customers` the listing; `jobs.select`, `endpoints.jobs`, `endpoints.protected`,
    `endpoints.scan_profiles` or `scan_profiles` every customer; `endpoints.services` the subscriptions (under
    v3 also every customer: its user seats, as does `endpoints.seat_tenant_types`). The rest
    (jobs.expected_interval, status outcomes, web, timeouts, retries, secrets) needs no data again."""
    source = ("base_url", "token_url", "version")
    if (
        new.cache.ttl != old.cache.ttl
        or any(getattr(new.api, f) != getattr(old.api, f) for f in source)
        or new.auth.client_id != old.auth.client_id
    ):
        return Due(everything=True)
    return Due(
        listing=new.customers != old.customers,
        customers=(
            new.jobs.select != old.jobs.select
            or new.endpoints.jobs != old.endpoints.jobs
            or new.endpoints.protected != old.endpoints.protected
            or new.endpoints.scan_profiles != old.endpoints.scan_profiles
            or new.scan_profiles != old.scan_profiles
            # v3's user seats are read per customer with the subscriptions
            or (
                new.api.version == "v3"
                and (
                    new.endpoints.services != old.endpoints.services
                    or new.endpoints.seat_tenant_types != old.endpoints.seat_tenant_types
                )
            )
        ),
        services=new.endpoints.services != old.endpoints.services,
    )
