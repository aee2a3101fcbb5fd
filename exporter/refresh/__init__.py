"""When to call the API: TTL cache, single flight, per-customer isolation, deadlines, last-success memory."""

from exporter.refresh.fetch import ApiClient
from exporter.refresh.refresher import Refresher
from exporter.refresh.workers import Workers

__all__ = ["ApiClient", "Refresher", "Workers"]
