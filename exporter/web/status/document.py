"""The status page as JSON (/status.json): the same view, for scripts."""

from __future__ import annotations

import json
from typing import Any

from exporter import safe
from exporter.model import Failure
from exporter.web.status import scan_profiles
from exporter.web.status.view import Coverage, Refresh, Row, Seats, Status, age

JSON_TYPE = "application/json; charset=utf-8"
CSP_JSON = "default-src 'none'; frame-ancestors 'none'"
JSON_HEADERS = (
    ("Content-Security-Policy", CSP_JSON),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-cache"),
)


def to_dict(status: Status) -> dict[str, Any]:
    h = status.header
    now = status.generated  # every age as of the page's time
    return {
        "generated_timestamp_seconds": status.generated,
        "exporter": {
            "version": h.version,
            "started_timestamp_seconds": h.started,
            "api": {"base_url": h.api_base_url, "version": h.api_version},
            "auth_method": h.auth_method,
            "shard": {"index": h.shard_index, "count": h.shard_count},
            "cache_ttl_seconds": h.cache_ttl,
            "up": h.up,
            "ready": h.ready,
            "last_refresh": {
                "timestamp_seconds": h.listing.last_success,
                "duration_seconds": h.last_refresh_seconds,
                "error": _error_dict(h.listing.error),
            },
            "services": _refresh_dict(h.services, now) if h.services is not None else None,
            "customers": h.customers,
            "customers_with_problems": h.problem_customers,
            "jobs": h.jobs,
        },
        "customers": [
            {
                "id": row.customer_id,
                "organization": row.organization,
                "country": row.country,
                "status": row.status,
                "health": row.health,
                "problems": list(row.reasons),
                "data_age_seconds": row.data_age(now),
                "refresh": [_refresh_dict(r, now) for r in row.refresh],
                **_extras(row, coverage=h.coverage, seats=h.seats),
                "jobs": [
                    {
                        "job_type": c.job_type,
                        "job_module": c.job_module,
                        "status": c.status,
                        "outcome": c.outcome.value,
                        "failed_objects": c.failed_objects,
                        "end_timestamp_seconds": c.end_time,
                        "last_success_timestamp_seconds": c.last_success,
                        "seconds_since_last_success": age(c.last_success, now),
                        "expected_interval_seconds": c.expected_interval,
                        "stale": c.stale,
                        "never_run": c.never_run,
                        "kind": c.kind,
                    }
                    for c in row.cells
                ],
                **({"scan_profiles": scan_profiles.to_dicts(row.scan_profiles, now)} if h.scan_profiles else {}),
            }
            for row in status.rows
        ],
    }


def _extras(row: Row, *, coverage: bool, seats: bool) -> dict[str, Any]:
    """Coverage with endpoints.protected, seats under v3 with endpoints.services: keys only where they apply."""
    out: dict[str, Any] = {}
    if coverage:
        out["coverage"] = [_coverage_dict(c) for c in row.coverage]
    if seats:
        out["seats"] = [_seats_dict(s) for s in row.seats]
    return out


def _coverage_dict(c: Coverage) -> dict[str, Any]:
    return {
        "service": c.service,
        "module": c.module,
        "protected_objects": c.protected,
        "scanned_objects": c.scanned,
        "ratio": c.ratio,
    }


def _seats_dict(s: Seats) -> dict[str, Any]:
    return {
        "tenant_type": s.tenant_type,
        "tenant_id": s.tenant_id,
        "tenant_name": s.tenant_name,
        "assigned": s.assigned,
        "available": s.available,
        "assigned_ratio": s.share,
    }


def _refresh_dict(r: Refresh, now: float) -> dict[str, Any]:
    return {
        "endpoint": r.endpoint,
        "success": r.success,
        "last_success_timestamp_seconds": r.last_success,
        "age_seconds": age(r.last_success, now),
        "error": _error_dict(r.error),
    }


def _error_dict(error: Failure | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"class": error.kind, "message": error.message, "request_id": error.request_id, "trace_id": error.trace_id}


def render_json(status: Status) -> bytes:
    return safe.encode(json.dumps(to_dict(status), ensure_ascii=False, separators=(",", ":")))


__all__ = ["CSP_JSON", "JSON_HEADERS", "JSON_TYPE", "render_json", "to_dict"]
