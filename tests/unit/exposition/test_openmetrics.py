"""OpenMetrics 1.0 exposition: golden file, prometheus_client's strict parser and writer as oracles, cache view."""

from __future__ import annotations

import gzip
import math
import os
from collections.abc import Callable, Iterable, Iterator
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics import exposition as openmetrics_exposition
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families as text_families

from exporter import config, safe
from exporter.exposition import EOF, ExpositionCache
from exporter.exposition.families import FAMILIES, Family, Jobs
from exporter.exposition.text import encode, job_lines, openmetrics_header, unit
from exporter.model import Job, Outcome, Snapshot
from tests.unit.exposition.test_text import GOLDEN, Families, label_text, snapshot, snapshot_with_everything

# prometheus_client's strict OpenMetrics parser; it ships without annotations.
openmetrics_latest = cast(Callable[[Families], bytes], openmetrics_exposition.generate_latest)
openmetrics_families = cast(Callable[[str], Iterator[Metric]], openmetrics_parser.text_string_to_metric_families)

MAKERS = [("exposition.prom", snapshot), ("exposition-full.prom", snapshot_with_everything)]


def _series(families: Iterable[Metric]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in families for s in family.samples}


def test_openmetrics_matches_golden_file() -> None:
    body = (encode(snapshot_with_everything(), openmetrics=True) + EOF).decode()
    golden = GOLDEN / "exposition-full.om"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(body)
    assert body == golden.read_text(), "OpenMetrics exposition changed: review, then rerun with UPDATE_GOLDEN=1"


@pytest.mark.parametrize(("name", "make"), MAKERS)
def test_openmetrics_parses_strictly_to_the_classic_series(name: str, make: Callable[[], Snapshot]) -> None:
    """The strict parser refuses a missing `# EOF`, a UNIT its name does not end with, a bad escape."""
    body = (encode(make(), openmetrics=True) + EOF).decode()
    parsed = list(openmetrics_families(body))
    assert _series(parsed) == _series(text_families((GOLDEN / name).read_text()))
    units = {f.name: f.unit for f in parsed}
    assert units["avepoint_refresh_duration_seconds"] == "seconds"
    assert units["avepoint_refresh_success"] == ""
    # The run counter is one family, avepoint_backup_job_runs, with _total samples; the classic parser agrees.
    types = {f.name: f.type for f in parsed}
    assert types.pop("avepoint_backup_job_runs") == "counter"
    assert set(types.values()) == {"gauge"}
    assert {f.name: f.type for f in text_families(encode(make()).decode())}["avepoint_backup_job_runs"] == "counter"
    assert not body.endswith(EOF.decode() * 2) and body.count("# EOF") == 1


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_openmetrics_headers_equal_prometheus_client(family: Family) -> None:
    """prometheus_client's OpenMetrics writer is the oracle for HELP escaping and UNIT, family by family."""
    kind = CounterMetricFamily if family.type == "counter" else GaugeMetricFamily
    oracle = kind(family.name, family.help, unit=unit(family) or "")
    oracle.add_metric([], 1.0)
    expected = openmetrics_latest(Families([oracle])).decode()
    # A counter's sample is named with _total (the family's `name`), its headers without it.
    assert openmetrics_header(family).decode() + f"{family.name} 1.0\n# EOF\n" == expected


def test_units_only_where_the_name_ends_in_one() -> None:
    assert unit(Family("avepoint_backup_job_size_bytes", "")) == "bytes"
    assert unit(Family("avepoint_subscription_purchased_units", "")) is None
    assert b'\\"' in openmetrics_header(next(f for f in FAMILIES if '"' in f.help))  # OpenMetrics escapes " in HELP


@pytest.mark.parametrize(("name", "make"), MAKERS)
def test_cache_serves_openmetrics_from_the_same_runs(name: str, make: Callable[[], Snapshot]) -> None:
    snap = make()
    exposition = ExpositionCache().get(snap)
    view = exposition.openmetrics
    assert view.body == encode(snap, openmetrics=True)
    assert gzip.decompress(b"".join(view.gzip_with(EOF))) == view.body + EOF
    assert exposition.body == (GOLDEN / name).read_bytes()  # the classic bytes are untouched
    assert exposition.openmetrics is view  # built once per generation
    # Every sample run is the classic one, shared: only the (fixed) family headers differ.
    shared = {id(part) for part in exposition.parts}
    assert sum(id(part) not in shared for part in view.parts) == len(exposition.layout)


@settings(max_examples=150, deadline=None)
@given(
    customer_id=label_text,
    job_type=label_text.filter(bool),
    module=label_text.filter(bool),
    status=label_text,
    value=st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=0, max_value=2**63),
)
def test_any_label_text_and_value_parse_strictly(
    customer_id: str, job_type: str, module: str, status: str, value: float
) -> None:
    """Hostile label text (quotes, backslashes, newlines, any Unicode) and any float stay valid OpenMetrics."""
    job = Job(job_type, module, None, None, status, Outcome.UNKNOWN, objects=value)  # type: ignore[arg-type]
    lines = job_lines(customer_id, (job,), {}, config.JobsConfig())
    body = b"".join(openmetrics_header(f) + safe.encode(lines[f]) for f in FAMILIES if f in lines) + EOF
    parsed = {f.name: f for f in openmetrics_families(body.decode())}
    (status_sample,) = parsed[Jobs.STATUS.name].samples
    assert status_sample.labels == {
        "customer_id": customer_id,
        "job_type": job_type,
        "job_module": module,
        "status": status,
        "outcome": "unknown",
    }
    (objects,) = parsed["avepoint_backup_job_objects"].samples
    assert objects.value == float(value) or (math.isnan(objects.value) and math.isnan(value))
