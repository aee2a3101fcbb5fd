"""The README documents exactly what the code has: every metric and every config key."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

from exporter import config
from exporter.exposition.families import FAMILIES
from exporter.exposition.telemetry import Telemetry
from tests.support import ROOT

README = (ROOT / "README.md").read_text()


def documented(section: str) -> set[str]:
    body = README.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_.]+)` \|", body, flags=re.MULTILINE))


def test_metric_reference_matches_the_code() -> None:
    registry = CollectorRegistry()
    Telemetry(registry)
    names = {f.name for f in FAMILIES}
    for family in registry.collect():
        suffix = {"counter": "_total", "info": "_info"}.get(family.type, "")
        names.add(family.name + suffix)
    # The contract's derived series are documented under their family name.
    assert documented("Metrics") == names


def test_configuration_reference_matches_the_code() -> None:
    assert documented("Configuration") == set(config.env_names().values())
