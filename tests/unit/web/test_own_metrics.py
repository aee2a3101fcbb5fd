"""The exporter's own metrics in a scrape: written again only after a change, never stale, per-scrape ones fresh."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator

import pytest
from prometheus_client import CollectorRegistry, Metric, ProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from avepoint_simulator import FleetSpec, Simulator
from exporter.exposition import Telemetry
from exporter.refresh import Refresher
from exporter.upstream import Client
from exporter.web import App
from tests.support.harness import make_config

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


@pytest.fixture
def app() -> Iterator[tuple[App, Telemetry, list[int]]]:
    with Simulator(FleetSpec(customers=2, seed=3)) as sim:
        cfg = make_config(sim)
        registry = CollectorRegistry()
        telemetry = Telemetry(registry)
        ProcessCollector(registry=telemetry.per_scrape)
        refresher = Refresher(cfg, Client(cfg.api, cfg.auth, observe=telemetry.observe_request))
        writes = [0]
        real = registry.collect

        def counted() -> Iterable[Metric]:
            writes[0] += 1
            return real()

        registry.collect = counted  # type: ignore[method-assign]
        try:
            yield App(lambda: refresher, registry, telemetry), telemetry, writes
        finally:
            refresher.close()


def scrape(app: App, accept: str | None = None) -> dict[str, float]:
    response = app.metrics(None, "gzip", accept)
    text = gzip.decompress(b"".join((response.body, *response.more))).decode()
    if accept:
        assert text.endswith("# EOF\n") and text.count("# EOF") == 1
        text = text.removesuffix("# EOF\n")
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_own_metrics_are_written_once_per_change(app: tuple[App, Telemetry, list[int]]) -> None:
    exporter, telemetry, writes = app
    first = scrape(exporter)
    key = "avepoint_parse_errors_total[('field', 'x')]"
    assert key not in first and any(k.startswith("process_cpu_seconds_total") for k in first)
    before = writes[0]
    for _ in range(3):
        scrape(exporter)
    assert writes[0] == before  # nothing changed: the text written before is sent again
    telemetry.parse_error("x")
    assert scrape(exporter)[key] == 1.0  # a change shows in the very next scrape
    assert writes[0] == before + 1
    telemetry.observe_request("/partner/customers", "200", 0.1)
    after = scrape(exporter)
    assert after["avepoint_api_requests_total[('code', '200'), ('endpoint', '/partner/customers')]"] >= 1
    # OpenMetrics has its own text, with one `# EOF` at the very end after the per-scrape metrics.
    om = scrape(exporter, OPENMETRICS)
    assert om[key] == 1.0 and any(k.startswith("avepoint_scrape_duration_seconds") for k in om)


def test_per_scrape_metrics_are_written_every_scrape(app: tuple[App, Telemetry, list[int]]) -> None:
    exporter, telemetry, _ = app
    calls = [0]
    real = telemetry.per_scrape.collect

    def counted() -> Iterable[Metric]:
        calls[0] += 1
        return real()

    telemetry.per_scrape.collect = counted  # type: ignore[method-assign]
    durations = set()
    for _ in range(3):
        durations.add(scrape(exporter)["avepoint_scrape_duration_seconds[]"])
    assert calls[0] == 3 and len(durations) > 1  # each scrape's own duration, not a cached one
