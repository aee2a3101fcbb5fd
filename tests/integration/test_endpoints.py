"""Protected data and subscriptions through the refresher, in both API versions; endpoint switches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from avepoint_simulator import FleetSpec, Simulator
from exporter.exposition.text import encode
from exporter.model import Job, Outcome
from tests.support.harness import Clock, make_config, make_refresher

VERSIONS = ["legacy", "v3"]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=5, seed=17), clock=lambda: 1_760_000_000.0) as simulator:
        yield simulator


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


@pytest.mark.parametrize("version", VERSIONS)
def test_protected_and_subscriptions_are_exported(sim: Simulator, version: str) -> None:
    cfg = make_config(sim, api={"version": version}, endpoints={"protected": True, "services": True})
    refresher = make_refresher(cfg)
    snap = refresher.snapshot_within(wait=10)
    got = samples(encode(snap).decode())
    assert snap.services.success
    assert {labels["storage"] for labels, _ in got["avepoint_protected_data_bytes"]} <= {"avepoint", "byos"}
    assert {labels["customer_id"] for labels, _ in got["avepoint_protected_objects"]} <= set(sim.customer_ids)
    assert len(got["avepoint_protected_objects"]) > 0
    expiries = got["avepoint_subscription_expiry_timestamp_seconds"]
    assert expiries and all(value > 1.5e9 for _, value in expiries)
    ok = {(labels["customer_id"], labels["endpoint"]): value for labels, value in got["avepoint_refresh_success"]}
    assert ok[("", "services")] == 1 and all(ok[(cid, "protected")] == 1 for cid in sim.customer_ids)
    refresher.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_both_versions_export_the_same_jobs(sim: Simulator, version: str) -> None:
    legacy = make_refresher(make_config(sim)).snapshot_within(wait=10)
    other = make_refresher(make_config(sim, api={"version": version})).snapshot_within(wait=10)

    def same(jobs: tuple[Job, ...]) -> list[Job]:
        # A never-run module reads "Not Finished" in legacy and has no such code in v3 (it sends 0, "None"):
        # both are not_run, the one documented difference.
        return [replace(j, status="") if j.outcome is Outcome.NOT_RUN else j for j in jobs]

    assert [same(c.jobs) for c in other.customers] == [same(c.jobs) for c in legacy.customers]


def test_a_missing_scope_disables_only_its_group_and_names_the_scope(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    # The app registration lacks the protected-data scope: jobs and subscriptions still work.
    scopes = ["partner.customers.read.all", "partner.jobs.read.all", "partner.license.read.all"]
    cfg = make_config(sim, auth={"scopes": scopes}, endpoints={"protected": True, "services": True})
    refresher = make_refresher(cfg)
    snap = refresher.snapshot_within(wait=10)
    assert all(c.attempt.success and c.jobs for c in snap.customers)
    assert all(not c.protected_attempt.success for c in snap.customers)
    assert snap.services.success
    assert "partner.cbprotected.read.all" in str(snap.customers[0].protected_attempt.error)
    assert "refreshing protected data failed" in caplog.text
    refresher.close()


def test_switched_off_groups_are_neither_fetched_nor_exported(sim: Simulator) -> None:
    cfg = make_config(sim, endpoints={"jobs": False, "protected": True})
    refresher = make_refresher(cfg)
    text = encode(refresher.snapshot_within(wait=10)).decode()
    assert sim.requests[("/partner/customers/{id}/jobs", 200)] == 0
    assert sim.requests[("/partner/services", 200)] == 0
    assert "avepoint_backup_job_status" not in text
    assert 'endpoint="jobs"' not in text and 'endpoint="services"' not in text
    assert "avepoint_protected_objects" in text
    refresher.close()


def test_subscriptions_refresh_with_the_ttl(sim: Simulator) -> None:
    clock = Clock()
    refresher = make_refresher(make_config(sim, endpoints={"services": True}), clock)
    refresher.snapshot_within(wait=10)
    clock.now = 30
    refresher.snapshot_within(wait=10)
    assert sim.requests[("/partner/services", 200)] == 1
    clock.now = 61
    refresher.snapshot_within(wait=10)
    assert sim.requests[("/partner/services", 200)] == 2
    refresher.close()
