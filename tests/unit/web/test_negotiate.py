"""Accept-header negotiation: the headers real Prometheus versions send, q-values, wildcards, junk."""

from __future__ import annotations

import pytest

from exporter.web.negotiate import wants_openmetrics

# What scrapers send, taken from their source (scrape.go's acceptHeader) and, for Debian's Prometheus,
# from the request tests/integration/test_openmetrics_stack.py captures.
PROMETHEUS_2 = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROMETHEUS_3 = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)
# scrape_protocols: [PrometheusText0.0.4, OpenMetricsText1.0.0]: the classic format first.
PROMETHEUS_3_TEXT_FIRST = "text/plain;version=0.0.4;q=0.6,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.4"
PROMETHEUS_3_PROTO_FIRST = (
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,"
    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.3"
)


@pytest.mark.parametrize(
    ("accept", "openmetrics"),
    [
        (None, False),  # no header: curl, old clients
        ("", False),
        ("*/*", False),  # requests, browsers' wildcard
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),  # a browser
        ("text/plain", False),
        (PROMETHEUS_2, True),
        (PROMETHEUS_3, True),
        (PROMETHEUS_3_TEXT_FIRST, False),
        (PROMETHEUS_3_PROTO_FIRST, True),  # no protobuf here: the next best is OpenMetrics
        ("application/openmetrics-text", True),
        ("Application/OpenMetrics-Text; Version=1.0.0", True),  # media types are case-insensitive
        ('application/openmetrics-text;version="1.0.0"', True),
        ("application/openmetrics-text;version=0.0.1", True),
        ("application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2", True),
        ("application/openmetrics-text;q=0.3,text/plain;q=0.5", False),
        ("application/openmetrics-text;q=0.5,text/plain;q=0.5", False),  # a tie: the classic format
        ("application/openmetrics-text;q=0.5,text/*;q=0.7", False),  # a wildcard counts for text/plain
        ("application/openmetrics-text;q=0.5,*/*;q=0.7", False),
        ("application/openmetrics-text;q=0,text/plain", False),  # q=0: not acceptable
        ("application/openmetrics-text;q=0", False),
        ("application/openmetrics-text;version=2.0.0,text/plain;q=0.1", False),  # a version not written here
        ("application/openmetrics-text;version=2.0.0;q=0.9,application/openmetrics-text;version=1.0.0;q=0.2", True),
        ("text/plain;version=9.9.9,application/openmetrics-text;q=0.1", True),  # nor is that text version
        ("application/openmetrics-text;q=banana,text/plain;q=0.1", False),  # an unreadable weight accepts nothing
        ("application/openmetrics-text;q=7", True),  # clamped to 1
        (",,;;garbage,application/openmetrics-text", True),  # malformed entries are skipped, not fatal
        ("application/*", False),  # not named: the classic format
    ],
)
def test_negotiation(accept: str | None, openmetrics: bool) -> None:
    assert wants_openmetrics(accept) is openmetrics


def test_a_huge_header_is_cheap() -> None:
    # http.server caps a header line at 64 KiB; a line that long, all entries, is parsed in linear time.
    assert wants_openmetrics("x/y;q=0.1," * 6500 + "application/openmetrics-text") is True
