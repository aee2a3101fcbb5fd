"""Everything AvePoint: auth, transport, the API dialects and their codes, parsing. Knows nothing of Prometheus."""

from exporter.upstream.client import EP_TOKEN, Client

__all__ = ["EP_TOKEN", "Client"]
