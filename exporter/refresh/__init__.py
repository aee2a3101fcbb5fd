"""When to call the API: TTL cache, single flight, per-customer isolation, deadlines, last-success memory."""

from exporter.refresh.refresher import ApiClient, Refresher
from exporter.refresh.workers import Workers

__all__ = ["ApiClient", "Refresher", "Workers"]
