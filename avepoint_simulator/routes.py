"""The routes: their templates, how a path matches one, the scope and method each wants, request filters, paging."""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import parse_qs, unquote

from avepoint_simulator.faults import Faults

ROUTE_TOKEN: Final = "/connect/token"  # noqa: S105, RUF100 - a route, not a password
ROUTE_CUSTOMERS: Final = "/partner/customers"
ROUTE_CUSTOMER: Final = "/partner/customers/{id}"
ROUTE_JOBS: Final = "/partner/customers/{id}/jobs"
ROUTE_JOBS_BY_MODULE: Final = "/partner/customers/{id}/jobs/jobType/{jobType}/jobModule/{jobModule}"
ROUTE_PROTECTED: Final = "/partner/customers/{id}/protected"
ROUTE_SERVICES: Final = "/partner/services"
ROUTE_SCAN_PROFILES: Final = "/partner/customers/{id}/scanProfiles"
ROUTE_SCAN_PROFILE_SUMMARY: Final = "/partner/customers/{id}/scanProfiles/{ProfileId}/dailyNewSummary"
ROUTE_UNKNOWN: Final = "unknown"
V3_PREFIX: Final = "/partner/external/v3/general"
ROUTE_V3_CUSTOMERS: Final = f"{V3_PREFIX}/customers/batch"
ROUTE_V3_JOBS: Final = f"{V3_PREFIX}/customers/{{customerId}}/avpt-products/jobs/batch"
ROUTE_V3_SERVICES: Final = f"{V3_PREFIX}/customers/services/batch"
ROUTE_V3_PROTECTED: Final = f"{V3_PREFIX}/customers/{{customerId}}/cloud-backup-m365/overview"
ROUTE_V3_SCAN_PROFILES: Final = f"{V3_PREFIX}/customers/{{customerId}}/scan-profiles/batch"
ROUTE_V3_SCAN_PROFILE_CHANGES: Final = f"{V3_PREFIX}/customers/{{customerId}}/scan-profiles/{{scanProfileId}}/changes"
# docs/elements/general/tenant/get-3rd-party-products-tenant-type.md: POST, scope elements.license.read.all.
ROUTE_V3_SEATS: Final = f"{V3_PREFIX}/customers/{{customerId}}/3rd-party-products/type/{{type}}/tenants/batch"

ROUTE_SCOPE: Final = {
    ROUTE_CUSTOMERS: "partner.customers.read.all",
    ROUTE_CUSTOMER: "partner.customers.read.all",
    ROUTE_JOBS: "partner.jobs.read.all",
    ROUTE_JOBS_BY_MODULE: "partner.jobs.read.all",
    ROUTE_PROTECTED: "partner.cbprotected.read.all",
    ROUTE_SERVICES: "partner.license.read.all",
    ROUTE_V3_CUSTOMERS: "elements.customers.read.all",
    ROUTE_V3_JOBS: "elements.jobs.read.all",
    ROUTE_V3_SERVICES: "elements.license.read.all",
    ROUTE_V3_PROTECTED: "elements.cbprotected.read.all",
    # The scan-profile pages' permission tables (see scan_profiles.py).
    ROUTE_SCAN_PROFILES: "partner.scanprofiles.read.all",
    ROUTE_SCAN_PROFILE_SUMMARY: "partner.scanprofiles.read.all",
    ROUTE_V3_SCAN_PROFILES: "elements.scanprofiles.read.all",
    ROUTE_V3_SCAN_PROFILE_CHANGES: "elements.scanprofiles.read.all",
    ROUTE_V3_SEATS: "elements.license.read.all",
}
# The legacy family reads with GET; v3 reads with POST "batch" routes, except the overview.
ROUTE_METHOD: Final = {
    **dict.fromkeys(
        (
            ROUTE_CUSTOMERS,
            ROUTE_CUSTOMER,
            ROUTE_JOBS,
            ROUTE_JOBS_BY_MODULE,
            ROUTE_PROTECTED,
            ROUTE_SERVICES,
            ROUTE_SCAN_PROFILES,
            ROUTE_SCAN_PROFILE_SUMMARY,
        ),
        "GET",
    ),
    ROUTE_V3_CUSTOMERS: "POST",
    ROUTE_V3_JOBS: "POST",
    ROUTE_V3_SERVICES: "POST",
    ROUTE_V3_PROTECTED: "GET",
    ROUTE_V3_SCAN_PROFILES: "POST",
    ROUTE_V3_SCAN_PROFILE_CHANGES: "GET",
    ROUTE_V3_SEATS: "POST",
}
V3_DEFAULT_PAGE_SIZE: Final = 50
V3_MAX_PAGE_SIZE: Final = 100


def match(path: str) -> tuple[str, tuple[str, ...]]:
    """Route template and decoded parameters of a request path."""
    # Split before decoding so an encoded `/` stays inside its segment.
    raw = [s for s in path.split("/") if s]
    parts = [unquote(s) for s in raw]
    lower = [p.lower() for p in parts]
    if lower == ["connect", "token"]:
        return ROUTE_TOKEN, ()
    if lower == ["partner", "services"]:
        return ROUTE_SERVICES, ()
    if lower[:5] == ["partner", "external", "v3", "general", "customers"]:
        return _match_v3(parts[5:], lower[5:])
    if lower[:2] != ["partner", "customers"]:
        return ROUTE_UNKNOWN, ()
    if len(parts) == 2:
        return ROUTE_CUSTOMERS, ()
    if len(parts) == 3:
        return ROUTE_CUSTOMER, (parts[2],)
    if len(parts) == 4 and lower[3] == "jobs":
        return ROUTE_JOBS, (parts[2],)
    if len(parts) == 4 and lower[3] == "protected":
        return ROUTE_PROTECTED, (parts[2],)
    if len(parts) == 4 and lower[3] == "scanprofiles":
        return ROUTE_SCAN_PROFILES, (parts[2],)
    if len(parts) == 6 and (lower[3], lower[5]) == ("scanprofiles", "dailynewsummary"):
        return ROUTE_SCAN_PROFILE_SUMMARY, (parts[2], parts[4])
    if len(parts) == 8 and (lower[3], lower[4], lower[6]) == ("jobs", "jobtype", "jobmodule"):
        return ROUTE_JOBS_BY_MODULE, (parts[2], parts[5], parts[7])
    return ROUTE_UNKNOWN, ()


def _match_v3(parts: list[str], lower: list[str]) -> tuple[str, tuple[str, ...]]:
    if lower == ["batch"]:
        return ROUTE_V3_CUSTOMERS, ()
    if lower == ["services", "batch"]:
        return ROUTE_V3_SERVICES, ()
    if len(parts) == 4 and lower[1:] == ["avpt-products", "jobs", "batch"]:
        return ROUTE_V3_JOBS, (parts[0],)
    if len(parts) == 3 and lower[1:] == ["cloud-backup-m365", "overview"]:
        return ROUTE_V3_PROTECTED, (parts[0],)
    if len(parts) == 3 and lower[1:] == ["scan-profiles", "batch"]:
        return ROUTE_V3_SCAN_PROFILES, (parts[0],)
    if len(parts) == 4 and (lower[1], lower[3]) == ("scan-profiles", "changes"):
        return ROUTE_V3_SCAN_PROFILE_CHANGES, (parts[0], parts[2])
    if len(parts) == 6 and (lower[1], lower[2], lower[4], lower[5]) == (
        "3rd-party-products",
        "type",
        "tenants",
        "batch",
    ):
        return ROUTE_V3_SEATS, (parts[0], parts[3])
    return ROUTE_UNKNOWN, ()


def json_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The JSON object a v3 batch route was sent; no body reads as {} (every filter is optional)."""
    if not body.strip():
        return {}
    if "json" not in (content_type or "").lower():
        raise ValueError("the request body must be JSON (Content-Type: application/json)")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("the request body is not valid JSON") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError("the request body must be a JSON object")
    return data


def id_filter(request: dict[str, Any]) -> set[str] | None:
    ids = request.get("customerIds")
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError("customerIds must be a list of strings")
    return {i.lower() for i in ids}


def int_filter(request: dict[str, Any], key: str) -> int | None:
    value = request.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{key} must be an integer")
    return value


def _int_param(values: dict[str, list[str]], key: str, default: int) -> int:
    raw = values.get(key, [str(default)])[0]
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {raw!r}") from None


def v3_page(items: list[Any], query: str, page_size: int | None, faults: Faults) -> dict[str, object]:
    """One page of a v3 batch route; `page_size`, when set, caps what a client asks for (as do the faults)."""
    values = parse_qs(query, keep_blank_values=True)
    index = _int_param(values, "pageIndex", 1)
    size = _int_param(values, "pageSize", V3_DEFAULT_PAGE_SIZE)
    if index < 1:
        raise ValueError(f"pageIndex must be 1 or more, got {index}")
    if not 1 <= size <= V3_MAX_PAGE_SIZE:
        raise ValueError(f"pageSize must be between 1 and {V3_MAX_PAGE_SIZE}, got {size}")
    for cap in (page_size, faults.v3_page_cap):
        if cap is not None:
            size = min(size, cap)
    served = 1 if faults.v3_stuck_page_index else index
    start = (served - 1) * size
    return {
        "data": items[start : start + size],
        "metadata": {
            "pageIndex": index,
            "pageSize": size,
            "totalCount": len(items) + faults.v3_total_count_offset,
        },
    }


def legacy_page(
    items: list[Any], query: str, base: str, entity: str, route: str, *, page_size: int | None
) -> dict[str, object]:
    """One OData page of a legacy list route: `$skip` in, `@odata.nextLink` out while `page_size` leaves rows."""
    raw_skip = parse_qs(query).get("$skip", ["0"])[0]
    try:
        skip = int(raw_skip)
    except ValueError:
        skip = -1
    if skip < 0:
        raise ValueError(f"$skip must be a non-negative integer, got {raw_skip!r}")
    payload: dict[str, object] = {"@odata.context": f"{base}/partner/$metadata#{entity}"}
    if page_size is None:
        payload["value"] = items[skip:]
        return payload
    end = skip + page_size
    payload["value"] = items[skip:end]
    if end < len(items):
        payload["@odata.nextLink"] = f"{base}{route}?$skip={end}"
    return payload
