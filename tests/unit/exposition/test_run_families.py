"""The run counter in both formats, with prometheus_client's writers as oracles, and its place in the cache."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics import exposition as openmetrics_exposition

from exporter import config
from exporter.exposition import ExpositionCache
from exporter.exposition.families import RunHistory
from exporter.exposition.text import encode, header, job_lines, openmetrics_header
from exporter.model import FINISHED, Job, Outcome, Runs
from tests.unit.exposition.test_text import Families, label_text, snapshot

openmetrics_latest = cast(Callable[[Families], bytes], openmetrics_exposition.generate_latest)
LABELS = ["customer_id", "job_type", "job_module"]


@settings(max_examples=100, deadline=None)
@given(
    customer_id=label_text,
    job_type=label_text.filter(bool),
    module=label_text.filter(bool),
    counts=st.lists(st.integers(min_value=0, max_value=2**53), min_size=5, max_size=5),
    since=st.floats(min_value=0, max_value=4e9),
)
def test_run_families_equal_prometheus_client_in_both_formats(
    customer_id: str, job_type: str, module: str, counts: list[int], since: float
) -> None:
    job = Job(job_type, module, "j", None, "Finished", Outcome.SUCCESS)
    runs = Runs(since, *counts)
    ours = job_lines(customer_id, (job,), {}, config.JobsConfig(), {job.key: runs})
    # prometheus_client names a counter family without _total and writes `_total` samples.
    counter = CounterMetricFamily("avepoint_backup_job_runs", RunHistory.RUNS.help, labels=[*LABELS, "outcome"])
    for outcome, count in zip(FINISHED, counts, strict=True):
        counter.add_metric([customer_id, job_type, module, outcome.value], float(count))
    seen = GaugeMetricFamily(RunHistory.SEEN_SINCE.name, RunHistory.SEEN_SINCE.help, labels=LABELS, unit="seconds")
    seen.add_metric([customer_id, job_type, module], since)
    for family, oracle in ((RunHistory.RUNS, counter), (RunHistory.SEEN_SINCE, seen)):
        assert header(family).decode() + ours[family] == generate_latest(Families([oracle])).decode()
        assert (openmetrics_header(family).decode() + ours[family] + "# EOF\n") == openmetrics_latest(
            Families([oracle])
        ).decode()


def test_a_job_without_counts_has_no_run_samples() -> None:
    job = Job("T", "M", "j", None, "Finished", Outcome.SUCCESS)
    assert RunHistory.RUNS not in job_lines("c", (job,), {}, config.JobsConfig())


def test_a_counted_run_re_encodes_only_that_customer() -> None:
    cache = ExpositionCache()
    snap = snapshot(1)
    cache.get(snap)
    c1 = snap.customers[0]
    key = ("Microsoft 365", "Exchange Online")
    counted = replace(c1, runs={**c1.runs, key: c1.runs[key].counted(Outcome.FAILED)})
    snap2 = replace(snap, generation=2, customers=(counted, snap.customers[1]))
    body = cache.get(snap2).body
    assert cache.rebuilt_customers == 1
    assert body == encode(snap2)
    line = b'avepoint_backup_job_runs_total{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365",'
    assert line + b'outcome="failed"} 3.0\n' in body
    # Equal counts in a new mapping (every refresh builds one) are not a change.
    same = replace(snap2, generation=3, customers=(replace(counted, runs=dict(counted.runs)), snap.customers[1]))
    cache.get(same)
    assert cache.rebuilt_customers == 0
