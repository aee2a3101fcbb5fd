"""The benchmark script still runs (on a tiny fleet), so it cannot rot between benchmark runs."""

from __future__ import annotations

from tests.benchmarks import scrape


def test_scrape_benchmark_smoke() -> None:
    result = scrape.run(customers=3, jobs=4, latency=0.0, concurrency=2, warm_scrapes=3)
    assert result["customers"] == 3 and result["jobs"] == 12
    # listing + one jobs request per customer + one token: nothing more for a cold refresh.
    assert result["upstream_requests"] == 1 + 3 + 1
    assert 0 < result["warm_median_seconds"] <= result["warm_p99_seconds"]
