"""The parsers under the one name callers use: scalar values (values.py) and API rows (rows.py), all pure."""

from __future__ import annotations

from exporter.upstream.rows import (
    DEFAULT_OUTCOMES,
    Repaired,
    customer,
    job,
    outcome,
    protected,
    subscriptions,
    tenant_seats,
)
from exporter.upstream.values import (
    ParseError,
    capacity,
    count,
    duration_seconds,
    is_missing,
    size_bytes,
    size_ratio,
    timestamp,
)

__all__ = [
    "DEFAULT_OUTCOMES",
    "ParseError",
    "Repaired",
    "capacity",
    "count",
    "customer",
    "duration_seconds",
    "is_missing",
    "job",
    "outcome",
    "protected",
    "size_bytes",
    "size_ratio",
    "subscriptions",
    "tenant_seats",
    "timestamp",
]
