"""The month-of-history generator (tests/support/month.py): a valid OpenMetrics file whose samples agree with the
truth it returns, and that promtool backfills into a Prometheus that answers for the month."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests.support import free_port
from tests.support.harness import stop_processes
from tests.support.month import DAY, Backfilled, Month, Plan, backfill, generate

# The first test to use the session's month waits for it to be generated and backfilled (some 20 s idle).
pytestmark = pytest.mark.timeout(300)
# Four days with everything the month has: an outage on day 1, the new customer from day 1.5, the restart at 2.5.
SMALL = Plan(days=4, restart_day=2.5, added_day=1.5, outage=(0, 0, 0.5, 1.5))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Month:
    return generate(tmp_path_factory.mktemp("month") / "small.om", SMALL)


Samples = dict[str, list[tuple[dict[str, str], float, float]]]


@pytest.fixture(scope="module")
def samples(small: Month) -> Samples:
    """Every sample by family: (labels, value, timestamp); prometheus_client's strict OpenMetrics parser refuses
    a family or a series split in two, a missing `# EOF` or a sample without its family."""
    out: Samples = defaultdict(list)
    for family in text_string_to_metric_families(small.path.read_text()):  # type: ignore[no-untyped-call]
        for s in family.samples:
            assert s.timestamp is not None, s
            out[family.name].append((s.labels, s.value, float(s.timestamp)))
    return out


def test_the_file_is_one_exposition_with_a_timestamp_per_sample(small: Month, samples: Samples) -> None:
    up = sorted(ts for _, _, ts in samples["avepoint_up"])
    assert up == small.scrapes
    assert small.samples == sum(len(v) for v in samples.values())
    # The restart: two exporter instances, and no scrape between them for the gap.
    (_, stopped), (resumed, _) = small.instances
    assert resumed - stopped == SMALL.restart_gap + SMALL.step
    assert not [ts for ts in up if stopped < ts < resumed]


def test_the_added_customer_has_no_sample_before_it_was_added(small: Month, samples: Samples) -> None:
    added = list(small.customers.values())[SMALL.added]
    seen = sorted(ts for labels, _, ts in samples["avepoint_customer_info"] if labels["customer_id"] == added.id)
    assert seen[0] == added.first_exported >= small.start + SMALL.added_day * DAY
    others = [c for c in small.customers.values() if c.id != added.id]
    assert all(c.first_exported == small.start for c in others)


def test_the_runs_of_the_truth_are_the_runs_the_samples_show(small: Month, samples: Samples) -> None:
    ids: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for labels, _, _ in samples["avepoint_backup_job_info"]:
        ids[(labels["customer_id"], labels["job_type"], labels["job_module"])].add(labels["job_id"])
    failed = 0
    for job in small.jobs():
        key = (job.customer_id, job.job_type, job.job_module)
        if job.never_ran:
            assert not job.runs
            continue
        assert {r.job_id for r in job.runs} == ids[key]
        failed += job.count("failed")
    assert failed >= 1  # the outage's run at least
    # The outage: every run that started in it failed.
    outage = next(iter(small.customers.values()))
    start, end = small.start + SMALL.outage[2] * DAY, small.start + SMALL.outage[3] * DAY
    hit = [r for j in outage.jobs.values() for r in j.runs if start <= r.start < end and r.end is not None]
    assert hit
    assert {r.outcome for r in hit if r.job_id} >= {"failed"}


def test_month_end_sizes_and_last_success_are_the_last_samples(small: Month, samples: Samples) -> None:
    last: dict[tuple[str, str, str, str], tuple[float, float]] = {}
    for name in ("avepoint_backup_job_size_bytes", "avepoint_backup_job_last_success_timestamp_seconds"):
        for labels, value, ts in samples[name]:
            key = (name, labels["customer_id"], labels["job_type"], labels["job_module"])
            if key not in last or ts >= last[key][1]:
                last[key] = (value, ts)
    _, resumed = small.instances[0][1], small.instances[1][0]
    checked = 0
    for job in small.jobs():
        if job.never_ran:
            continue
        value, ts = last[("avepoint_backup_job_size_bytes", job.customer_id, job.job_type, job.job_module)]
        assert ts == small.end and value == pytest.approx(job.size_bytes)
        success = job.last_success(small.end)
        if success is not None and success >= resumed:  # the restarted exporter saw it (no state file)
            value, ts = last[
                ("avepoint_backup_job_last_success_timestamp_seconds", job.customer_id, job.job_type, job.job_module)
            ]
            assert (value, ts) == (success, small.end)
            checked += 1
    assert checked


def test_the_month_generates_in_well_under_30_seconds(month_prometheus: Backfilled) -> None:
    month = month_prometheus.month
    print(f"\nmonth: {len(month.scrapes)} scrapes, {month.samples} samples, {month.seconds:.1f} s")
    assert month.seconds < 30
    assert month.instances[1][0] - month.start == pytest.approx(month.plan.restart_day * DAY + month.plan.restart_gap)
    assert sum(j.count("failed") for j in month.jobs()) >= 5


def test_promtool_backfills_it_into_a_prometheus_that_answers_for_the_month(small: Month, tmp_path: Path) -> None:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        prom = backfill(small, tmp_path, procs, free_port())
        span = f"{int(small.end - small.start) + 1}s"
        [row] = prom.query(f"count_over_time(avepoint_up[{span}])", small.end)
        assert float(row["value"][1]) == len(small.scrapes)
        added = list(small.customers.values())[SMALL.added]
        before = small.start + SMALL.added_day * DAY - SMALL.step
        assert not prom.query(f'avepoint_customer_info{{customer_id="{added.id}"}}', before)
        assert prom.query(f'avepoint_customer_info{{customer_id="{added.id}"}}', small.end)
    finally:
        stop_processes(procs, tmp_path)
