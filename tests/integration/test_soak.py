"""Load and soak, short: tests/soak.py for 20 s (run `python -m tests.soak --seconds 60` for the full minute)."""

from __future__ import annotations

import json

import pytest

from tests import soak

pytestmark = pytest.mark.e2e

SECONDS = 20.0


def test_fifty_scrapers_against_a_flaky_upstream() -> None:
    result = soak.run(seconds=SECONDS, clients=50)
    print("\nsoak:", json.dumps(result.summary()))
    assert not result.failures, result.failures
    # The checks above, spelled out for whoever reads a failure here.
    assert result.statuses == {"200": result.scrapes}
    assert result.upstream_rate <= soak.MAX_RPS
    assert result.rss_last_third_mb <= result.rss_first_third_mb * 1.10
    # The faults really happened: the simulator answered errors, and the exporter kept serving.
    assert any(not key.endswith(" 200") for key in result.upstream_statuses), result.upstream_statuses
