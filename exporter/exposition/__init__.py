"""The metric contract, the text encoder and the pre-encoded, pre-compressed cache; pure."""

from exporter.exposition.render import CONTENT_TYPE, ExpositionCache, customer_exposition
from exporter.exposition.telemetry import Telemetry

__all__ = ["CONTENT_TYPE", "ExpositionCache", "Telemetry", "customer_exposition"]
