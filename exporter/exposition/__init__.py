"""The metric contract, the text encoder and the pre-encoded, pre-compressed cache; pure."""

from exporter.exposition.cache import ExpositionCache
from exporter.exposition.telemetry import Telemetry
from exporter.exposition.text import CONTENT_TYPE, EOF, OPENMETRICS_TYPE, customer_exposition

__all__ = ["CONTENT_TYPE", "EOF", "OPENMETRICS_TYPE", "ExpositionCache", "Telemetry", "customer_exposition"]
