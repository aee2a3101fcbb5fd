"""The exposition: golden files, validity (prometheus_client's parser and promtool), left-out values."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter import config, render
from exporter.model import Customer, Job, Outcome
from exporter.refresh import Attempt, CustomerState, Snapshot

GOLDEN = Path(__file__).parent / "golden"
CFG = config.Config(
    jobs=config.JobsConfig(
        expected_interval_overrides=(config.IntervalOverride(interval=3600, job_module="Exchange Online"),)
    )
)


def snapshot(generation: int = 1) -> Snapshot:
    full = Job(
        job_type="Microsoft 365",
        job_module="Exchange Online",
        job_id="job-1",
        name="Daily mail",
        status="Finished with exception",
        outcome=Outcome.WARNING,
        objects=120,
        failed_objects=0,
        successful_objects=118,
        skipped_objects=1,
        warning_objects=1,
        size_bytes=1.5 * 2**30,
        duration_seconds=1059.0,
        start_time=1757560876.0,
        end_time=1757561935.0,
        last_modified=1757561935.0,
    )
    never = Job(
        job_type="Microsoft 365",
        job_module="SharePoint Online",
        job_id=None,
        name=None,
        status="Not Finished",
        outcome=Outcome.NOT_RUN,
        objects=0,
        failed_objects=0,
        successful_objects=0,
        skipped_objects=0,
        warning_objects=0,
        size_bytes=0.0,
    )
    # Names an API may well send: quotes, backslashes, newlines, non-ASCII.
    hostile = Job(
        job_type='Google "Workspace"',
        job_module="Drive\\Shared\nDrives 📁",
        job_id="j\\2",
        name="x",
        status="Failed",
        outcome=Outcome.FAILED,
        failed_objects=3,
    )
    return Snapshot(
        generation=generation,
        config=CFG,
        up=True,
        listing=Attempt(True, 1757562000.0),
        customers=(
            CustomerState(
                Customer("c-1", 'Contoso "Ltd"', "DE", "Working"),
                (full, never),
                Attempt(True, 1757562001.0),
            ),
            CustomerState(Customer("c-2", "Fabrikam\nInc ✓", "", "N/A"), (hostile,), Attempt(False, None, "HTTP 500")),
        ),
        last_success={("c-1", "Microsoft 365", "Exchange Online"): 1757561935.0, ("gone", "x", "y"): 1.0},
        refreshed=True,
        last_refresh_seconds=0.25,
    )


def test_exposition_matches_golden_file() -> None:
    body = render.encode(render.families(snapshot())).decode()
    golden = GOLDEN / "exposition.prom"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(body)
    assert body == golden.read_text(), "exposition changed: review, then rerun with UPDATE_GOLDEN=1"


def test_exposition_parses_and_leaves_out_missing_values() -> None:
    body = render.encode(render.families(snapshot())).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }
    names = {name for name, _ in samples}
    sharepoint = ("customer_id", "c-1"), ("job_module", "SharePoint Online"), ("job_type", "Microsoft 365")
    # Never-run module: counts are real zeros, times were N/A and are absent (not 0).
    assert samples[("avepoint_backup_job_objects", sharepoint)] == 0
    assert ("avepoint_backup_job_start_timestamp_seconds", sharepoint) not in samples
    assert ("avepoint_backup_job_duration_seconds", sharepoint) not in samples
    assert ("avepoint_backup_job_last_success_timestamp_seconds", sharepoint) not in samples
    hostile = [k for k in samples if k[0] == "avepoint_backup_job_status" and ("customer_id", "c-2") in k[1]]
    assert dict(hostile[0][1])["job_module"] == "Drive\\Shared\nDrives 📁"
    assert dict(hostile[0][1])["outcome"] == "failed"
    # A last success of a job the API no longer lists is not exported.
    assert not any(("customer_id", "gone") in k[1] for k in samples)
    assert samples[("avepoint_backup_job_expected_interval_seconds", sharepoint)] == 86400
    ex = ("customer_id", "c-1"), ("job_module", "Exchange Online"), ("job_type", "Microsoft 365")
    assert samples[("avepoint_backup_job_expected_interval_seconds", ex)] == 3600
    assert samples[("avepoint_backup_job_size_bytes", ex)] == 1.5 * 2**30
    assert samples[("avepoint_refresh_success", (("customer_id", "c-2"), ("endpoint", "jobs")))] == 0
    assert (
        "avepoint_refresh_last_success_timestamp_seconds",
        (("customer_id", "c-2"), ("endpoint", "jobs")),
    ) not in samples
    assert {"avepoint_up", "avepoint_customer_info", "avepoint_customer_status", "avepoint_backup_job_info"} <= names


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is installed by tests/run")
def test_promtool_accepts_the_exposition() -> None:
    body = render.encode(render.families(snapshot()))
    result = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=60)
    # promtool lints too (exit 3 for lint problems only); the format itself must be clean.
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()


def test_exposition_cache_encodes_once_per_generation() -> None:
    cache = render.ExpositionCache()
    first = cache.get(snapshot(1))
    assert cache.get(snapshot(1)) is first
    second = cache.get(snapshot(2))
    assert second is not first
    assert gzip.decompress(second.gzipped) == second.body
