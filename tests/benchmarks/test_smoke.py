"""The benchmark still runs (on a tiny fleet), so it cannot rot between benchmark runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.benchmarks import bench


@pytest.mark.e2e
def test_benchmark_quick_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.json"
    assert bench.main(["--quick", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    # Correctness claims the benchmark makes, checked at tiny scale too.
    assert results["cold"]["upstream_requests"] == results["cold"]["expected_requests"]
    assert results["ha"]["ratio_10_to_1"] == 1.0
    assert results["slow"]["data_kept"] and results["slow"]["max_scrape_seconds"] <= results["slow"]["limit"]
    assert results["incremental"]["rebuilt"] == 1
    assert len(results["keepalive"]["kept_alive"]) == len(results["keepalive"]["fresh"]) == 2
    om = results["openmetrics"]
    # The OpenMetrics view shares the sample runs: it keeps far less than the classic exposition does.
    assert 0 < om["openmetrics_view_kept_bytes"] < om["classic_kept_bytes"]
    (warm,) = results["warm"].values()
    assert warm["ratio"] > 0 and warm["exporter"][0] > 0
    memory = results["memory"]
    assert memory["idle_rss"] > 0 and memory["100"]["peak_rss"] >= memory["idle_rss"]
    printed = capsys.readouterr().out
    assert "slope" in printed and "exporter vs floor" in printed
    assert "warm scrape" in printed and "kept-alive connection median" in printed and "OpenMetrics view" in printed
