"""Everything AvePoint: auth, transport, the API dialects and their routes, parsing. Knows nothing of Prometheus.

The pipeline, top down: api (the Client, one method per endpoint, paging) -> auth (tokens) and transport
(HTTP: retries, bounded reads, the one error mapping; limits for budgets and pace, environment for
proxies and CA) -> answers (JSON or a typed error); routes name the endpoints; parse (values, rows)
turns what the API sent into model records. The v3 codes are AvePoint's vocabulary, shared by every layer:
exporter/codes.py.
"""

from exporter.upstream.api import Client
from exporter.upstream.limits import RateLimiter

__all__ = ["Client", "RateLimiter"]
