"""/metrics and /probe over loopback in both formats: what the Accept header picks, parsed strictly."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import cast

import requests
from prometheus_client.core import Metric
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families as text_families

from exporter.exposition import CONTENT_TYPE, OPENMETRICS_TYPE
from tests.unit.web import test_app
from tests.unit.web.test_app import Running
from tests.unit.web.test_negotiate import PROMETHEUS_2, PROMETHEUS_3

# prometheus_client's strict OpenMetrics parser; it ships without annotations.
openmetrics_families = cast(Callable[[str], Iterator[Metric]], openmetrics_parser.text_string_to_metric_families)

running = test_app.running  # the fixture, shared

Series = set[tuple[str, tuple[tuple[str, str], ...]]]


def _series(families: Iterable[Metric]) -> Series:
    # _created is a sample of its own in the classic format, a timestamp in OpenMetrics: the same data.
    return {
        (s.name, tuple(sorted(s.labels.items())))
        for family in families
        for s in family.samples
        if not s.name.endswith("_created")
    }


def _get(url: str, accept: str | None, encoding: str = "identity", **params: str) -> requests.Response:
    headers = {"Accept-Encoding": encoding, **({"Accept": accept} if accept is not None else {})}
    return requests.get(url, headers=headers, params=params, timeout=10)


def test_metrics_in_openmetrics_for_prometheus(running: Running) -> None:
    classic = _get(running.url + "/metrics", None)
    assert classic.headers["Content-Type"] == CONTENT_TYPE and "# EOF" not in classic.text
    for accept in (PROMETHEUS_2, PROMETHEUS_3):
        for encoding in ("identity", "gzip"):
            answer = _get(running.url + "/metrics", accept, encoding)
            assert answer.status_code == 200
            assert answer.headers["Content-Type"] == OPENMETRICS_TYPE
            assert answer.headers.get("Content-Encoding", "identity") == encoding
            assert "Accept" in answer.headers["Vary"]
            body = answer.text
            assert body.endswith("\n# EOF\n") and body.count("# EOF") == 1
            families = {f.name: f for f in openmetrics_families(body)}  # strict: raises on any fault
            assert _series(families.values()) == _series(text_families(classic.text))
            # The exporter's own counters follow OpenMetrics' _total rule; units are declared.
            requests_family = families["avepoint_api_requests"]
            assert requests_family.type == "counter"
            assert {s.name for s in requests_family.samples} <= {
                "avepoint_api_requests_total",
                "avepoint_api_requests_created",
            }
            assert families["avepoint_api_request_duration_seconds"].unit == "seconds"
            assert families["avepoint_backup_job_size_bytes"].unit == "bytes"
            assert families["avepoint_exporter_build"].type == "info"
    # Asked once, the OpenMetrics view is built with every new snapshot, so no later scrape waits for it.
    app = running.server.app
    assert app._openmetrics_asked


def test_gzip_body_is_the_plain_body(running: Running) -> None:
    plain = _get(running.url + "/metrics", PROMETHEUS_3)
    packed = requests.get(
        running.url + "/metrics", headers={"Accept": PROMETHEUS_3, "Accept-Encoding": "gzip"}, stream=True, timeout=10
    )
    raw = gzip.decompress(packed.raw.read())

    def data(text: bytes) -> list[bytes]:
        # The live part (scrape duration, request counters) changes between scrapes: compare the cached part.
        return [line for line in text.split(b"\n") if line.startswith(b"avepoint_backup") or line.startswith(b"# UNIT")]

    assert data(raw) == data(plain.content) and data(raw)


def test_probe_in_openmetrics(running: Running) -> None:
    _get(running.url + "/metrics", None)  # fills the cache
    cid = running.sim.customer_ids[0]
    classic = _get(running.url + "/probe", None, customer_id=cid)
    assert classic.headers["Content-Type"] == CONTENT_TYPE and "# EOF" not in classic.text
    for encoding in ("identity", "gzip"):
        answer = _get(running.url + "/probe", PROMETHEUS_3, encoding, customer_id=cid)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == OPENMETRICS_TYPE
        assert answer.text.endswith("\n# EOF\n")
        parsed = list(openmetrics_families(answer.text))
        assert _series(parsed) == _series(text_families(classic.text))
        assert {s.labels["customer_id"] for f in parsed for s in f.samples if "customer_id" in s.labels} == {cid}
    refused = _get(running.url + "/probe", PROMETHEUS_3, customer_id="nobody")
    assert refused.status_code == 404 and "customer" in refused.text


def test_prerender_builds_the_view_clients_asked_for(running: Running) -> None:
    app = running.server.app
    snap = running.refresher.snapshot_within(10)
    app.prerender(replace(snap, generation=snap.generation + 1))
    assert "openmetrics" not in app._cache._current.__dict__  # nobody asked: not built, no memory spent
    _get(running.url + "/metrics", PROMETHEUS_3)
    app.prerender(replace(snap, generation=snap.generation + 2))
    # The cached_property was filled by prerender (the refresh thread), not left to the next scrape.
    assert "openmetrics" in app._cache._current.__dict__
