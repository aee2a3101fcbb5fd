"""Everything AvePoint: auth, transport, the API dialects and their codes, parsing. Knows nothing of Prometheus.

The pipeline, top down: api (the Client, one method per endpoint) -> auth (tokens) and transport (HTTP:
limits, retries, bounded reads, error mapping) -> answers (JSON or typed error); routes name the
endpoints; parse (values, rows) turns what the API sent into model records.
"""

from exporter.upstream.api import Client
from exporter.upstream.limits import RateLimiter
from exporter.upstream.routes import EP_TOKEN

__all__ = ["EP_TOKEN", "Client", "RateLimiter"]
