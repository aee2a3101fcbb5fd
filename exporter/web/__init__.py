"""HTTP: the app behind /metrics, /probe, the status page and the lifecycle endpoints; the server, TLS, basic auth."""

from exporter.web.app import App
from exporter.web.listener import Server, parse_listen_address, serve_in_thread

__all__ = ["App", "Server", "parse_listen_address", "serve_in_thread"]
