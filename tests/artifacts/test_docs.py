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
    telemetry = Telemetry(registry)
    names = {f.name for f in FAMILIES}
    for family in [*registry.collect(), *telemetry.per_scrape.collect()]:
        suffix = {"counter": "_total", "info": "_info"}.get(family.type, "")
        names.add(family.name + suffix)
    # The contract's derived series are documented under their family name.
    assert documented("Metrics") == names


def test_configuration_reference_matches_the_code() -> None:
    assert documented("Configuration") == set(config.env_names().values())


def test_every_open_question_about_the_api_has_a_choice_and_an_override() -> None:
    """Issue 12: what AvePoint's pages leave open is written down, each with the choice made and its override."""
    body = README.split("### What the documentation does not settle\n", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("| ") and not line.startswith("| question")]
    cells = [[c.strip() for c in row.strip("|").split(" | ")] for row in rows]
    assert len(cells) >= 10
    assert all(len(c) == 4 and all(c) for c in cells), "question, what the docs say, choice, override"
    questions = " ".join(c[0] for c in cells)
    for needed in ("GB", "legacy status", "0/1 GB", "Retry-After"):
        assert needed in questions, needed
