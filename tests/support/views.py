"""A snapshot and process of fixed content for the status page tests."""

from __future__ import annotations

from avepoint_simulator import DEMO_CLIENT_SECRET
from exporter import __version__, config
from exporter.shard import Shard
from exporter.web import status

NOW = 1_800_000_000.0


HOUR = 3600.0


CONFIG = config.from_mapping({"auth": {"client_id": "id", "client_secret": DEMO_CLIENT_SECRET}})


PROCESS = status.Process(__version__, NOW - 2 * HOUR, Shard())
