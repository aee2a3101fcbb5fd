"""The routes of both API dialects: the endpoint labels (route templates, never a URL with ids) and their paths."""

from __future__ import annotations

from urllib.parse import quote

EP_TOKEN = "token"  # noqa: S105 - an endpoint label, not a secret
EP_CUSTOMERS = "/partner/customers"
EP_JOBS = "/partner/customers/{id}/jobs"
EP_JOBS_BY_MODULE = "/partner/customers/{id}/jobs/jobType/{jobType}/jobModule/{jobModule}"
EP_PROTECTED = "/partner/customers/{id}/protected"
EP_SERVICES = "/partner/services"
# Scan profiles (AvePoint/cloud-api docs/docs/services-and-features/elements/scan-profiles/all-scan-profiles.md,
# daily-scan-profile-changes.md): the list, and one profile's daily summary (status, counts).
EP_SCAN_PROFILES = "/partner/customers/{id}/scanProfiles"
EP_SCAN_PROFILE_SUMMARY = "/partner/customers/{id}/scanProfiles/{ProfileId}/dailyNewSummary"
V3_PREFIX = "/partner/external/v3/general"
EP_V3_CUSTOMERS = V3_PREFIX + "/customers/batch"
EP_V3_JOBS = V3_PREFIX + "/customers/{customerId}/avpt-products/jobs/batch"
EP_V3_SERVICES = V3_PREFIX + "/customers/services/batch"
EP_V3_PROTECTED = V3_PREFIX + "/customers/{customerId}/cloud-backup-m365/overview"
# docs/elements/general/job/get-customer-scan-profiles.md (POST batch, paged) and
# get-customer-scan-profile-changes.md (GET, one object).
EP_V3_SCAN_PROFILES = V3_PREFIX + "/customers/{customerId}/scan-profiles/batch"
EP_V3_SCAN_PROFILE_CHANGES = V3_PREFIX + "/customers/{customerId}/scan-profiles/{scanProfileId}/changes"
EP_V3_SEATS = V3_PREFIX + "/customers/{customerId}/3rd-party-products/type/{type}/tenants/batch"
# The documented maximum: the fewest requests for a large estate.
V3_PAGE_SIZE = 100


def seg(value: str) -> str:
    """`value` as one path segment: an id or a name with spaces or slashes cannot change the route."""
    return quote(value, safe="")


def v3_jobs_path(customer_id: str) -> str:
    return f"{V3_PREFIX}/customers/{seg(customer_id)}/avpt-products/jobs/batch"


def v3_seats_path(customer_id: str, tenant_type: int) -> str:
    return f"{V3_PREFIX}/customers/{seg(customer_id)}/3rd-party-products/type/{tenant_type}/tenants/batch"
