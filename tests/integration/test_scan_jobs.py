"""Scan, archiver and retention jobs: exported and shown, but never counted as backup problems."""

from __future__ import annotations

import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, FleetSpec, Simulator
from exporter import __version__, codes, config
from exporter.exposition.text import encode
from exporter.refresh import Refresher
from exporter.shard import Shard
from exporter.upstream import Client
from exporter.web import status

NOW = 1_760_000_000.0


@pytest.mark.parametrize(
    ("job_type", "job_module", "kind"),
    [
        ("Microsoft 365 Scan", "None", "scan"),
        ("google workspace scan", "None", "scan"),
        ("DOR", "Microsoft 365 Discovery", "scan"),
        ("Microsoft 365", "Archiver", "archiver"),
        ("Microsoft 365", "Retention", "retention"),
        ("Microsoft 365", "OneDrive", "backup"),
        ("Something New", "601", "backup"),  # unknown: watched like a backup rather than left out
    ],
)
def test_job_kind(job_type: str, job_module: str, kind: str) -> None:
    assert codes.job_kind(job_type, job_module) == kind


@pytest.mark.parametrize("version", ["legacy", "v3"])
def test_a_failed_scan_is_exported_with_its_kind_and_is_no_backup_problem(version: str) -> None:
    with Simulator(FleetSpec(customers=2, seed=1), clock=lambda: NOW) as sim:
        cid = sim.customer_ids[0]
        ran: dict[str, Any] = {"jobId": "FB20250911032116214502", "startTime": "2025-09-11T03:21:16Z"}
        for job in sim.jobs(cid):  # every backup healthy, so only the scan could be a problem
            sim.pin(cid, str(job["jobType"]), str(job["jobModule"]), status="Finished", failedCount="0", **ran)
        sim.pin(cid, "Microsoft 365 Scan", "None", status="Failed", failedCount="3", **ran)
        sim.pin(cid, "Microsoft 365", "Archiver", status="Failed", **ran)
        cfg = config.from_mapping(
            {
                "api": {
                    "base_url": sim.base_url,
                    "token_url": sim.token_url,
                    "version": version,
                    "max_requests_per_second": 1000,
                    "retries": 0,
                },
                "auth": {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET},
            }
        )
        refresher = Refresher(cfg, Client(cfg.api, cfg.auth), clock=lambda: 0.0, wall_clock=lambda: NOW)
        try:
            snap = refresher.snapshot_within(wait=10)
        finally:
            refresher.close()
    kinds: dict[tuple[str, str], str] = {}
    failed = set()
    for family in text_string_to_metric_families(encode(snap).decode()):
        for s in family.samples:
            if s.labels.get("customer_id") != cid:
                continue
            if s.name == "avepoint_backup_job_kind":
                kinds[(s.labels["job_type"], s.labels["job_module"])] = s.labels["kind"]
            if s.name == "avepoint_backup_job_status" and s.labels["outcome"] == "failed":
                failed.add((s.labels["job_type"], s.labels["job_module"]))
    # Still visible: the scan's series are there, with the outcome its status says.
    assert failed == {("Microsoft 365 Scan", "None"), ("Microsoft 365", "Archiver")}
    assert kinds[("Microsoft 365 Scan", "None")] == "scan"
    assert kinds[("Microsoft 365", "Archiver")] == "archiver"
    assert {k for k, v in kinds.items() if v == "backup"} == {k for k in kinds if k not in failed}
    page = status.build(snap, status.Process(__version__, time.time(), Shard()), NOW)
    (row,) = [r for r in page.rows if r.customer_id == cid]
    assert row.reasons == () and row.health == status.OK
    cells = {(c.job_type, c.job_module): c for c in row.cells}
    assert cells[("Microsoft 365 Scan", "None")].kind == "scan"
    assert "a scan job, not a backup" in status.render_html(page)[0] + status.render_html(page)[1]
