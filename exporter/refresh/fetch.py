"""What the refresher asks the API for one customer: the client it needs, and the job, scan-profile and seat
rows, bounded."""

from __future__ import annotations

from typing import Any, Protocol

from exporter import codes
from exporter.config import Config
from exporter.errors import LimitExceeded
from exporter.model import GROUP_JOBS, GROUP_SCAN_PROFILES, GROUP_SEATS


class ApiClient(Protocol):
    """What the refresher needs of the upstream: its Client, or in tests a fake that fails on purpose."""

    def customers(self) -> list[Any]: ...
    def jobs(self, customer_id: str) -> list[Any]: ...
    def jobs_for(self, customer_id: str, job_type: str, job_module: str) -> list[Any]: ...
    def protected(self, customer_id: str) -> list[Any]: ...
    def services(self, customer_ids: list[str] | None = None) -> list[Any]: ...
    def scan_profiles(self, customer_id: str) -> list[Any]: ...
    def scan_profile_summary(self, customer_id: str, profile_id: str) -> dict[str, Any]: ...
    def seats(self, customer_id: str, tenant_type: int) -> list[Any]: ...


# Tenants of one customer, all four types together: a customer has one or two of each type it uses, so
# this only stops a runaway answer (each row becomes two series) from taking the memory of all customers.
MAX_TENANTS_PER_CUSTOMER = 1000


def jobs(config: Config, client: ApiClient, customer_id: str) -> list[Any]:
    """The job rows of one customer, at most `jobs.max_per_customer` of them (checked before parsing).

    One row is one job module, so this also bounds the series one customer can add: parsed and
    rendered, each costs some 8 KB, and a runaway answer must not take the memory of all customers.
    """
    if not config.jobs.select:
        return _bounded(config, client.jobs(customer_id))
    rows: list[Any] = []
    for sel in config.jobs.select:
        rows.extend(_bounded(config, client.jobs_for(customer_id, sel.job_type, sel.job_module), len(rows)))
    return rows


def _bounded(config: Config, rows: list[Any], held: int = 0) -> list[Any]:
    limit = config.jobs.max_per_customer
    if held + len(rows) > limit:
        raise LimitExceeded(
            f"{held + len(rows)} job rows, more than {limit} (jobs.max_per_customer)", endpoint=GROUP_JOBS
        )
    return rows


def scan_profiles(config: Config, client: ApiClient, customer_id: str) -> list[tuple[Any, dict[str, Any] | None]]:
    """Each scan profile's listing row with its daily summary (None where the row has no usable id).

    At most `scan_profiles.max_per_customer` profiles, checked before any summary is asked for: each one
    is another request on every refresh. A summary that fails fails the whole group for this customer
    (its last good data stays), so a profile never shows a status older than its neighbours' silently.
    """
    rows = client.scan_profiles(customer_id)
    limit = config.scan_profiles.max_per_customer
    if len(rows) > limit:
        raise LimitExceeded(
            f"{len(rows)} scan profiles, more than {limit} (scan_profiles.max_per_customer)",
            endpoint=GROUP_SCAN_PROFILES,
        )
    out: list[tuple[Any, dict[str, Any] | None]] = []
    asked: set[str] = set()
    for row in rows:
        profile_id = _profile_id(row)
        if profile_id is None or profile_id in asked:  # parse names the bad row; a repeat is asked once
            out.append((row, None))
            continue
        asked.add(profile_id)
        out.append((row, client.scan_profile_summary(customer_id, profile_id)))
    return out


def _profile_id(row: object) -> str | None:
    if not isinstance(row, dict):
        return None
    # The legacy samples spell it profileId in the list and profileID in the summary: any case.
    value = next((v for k, v in row.items() if isinstance(k, str) and k.casefold() == "profileid"), None)
    return value.strip() if isinstance(value, str) and value.strip() else None


def seats(config: Config, client: ApiClient, customer_id: str) -> list[tuple[str, Any]]:
    """The seat rows of one customer's tenants of each type in `endpoints.seat_tenant_types`, each with the
    name of the type it was asked as.

    One request per type (AvePoint/cloud-api docs/elements/general/tenant/get-3rd-party-products-tenant-type.md:
    0 Microsoft 365, 1 Salesforce, 2 Google, 3 Dynamics 365): the route has no "every type", and the customer
    listing does not say which types a customer has.
    """
    rows: list[tuple[str, Any]] = []
    for name in config.endpoints.seat_tenant_types:
        code = codes.code(codes.TENANT_TYPES, name)
        if code is None:  # the loader stores only names of the table
            continue
        rows.extend((name, row) for row in client.seats(customer_id, code))
        if len(rows) > MAX_TENANTS_PER_CUSTOMER:
            raise LimitExceeded(f"more than {MAX_TENANTS_PER_CUSTOMER} tenants with user seats", endpoint=GROUP_SEATS)
    return rows
