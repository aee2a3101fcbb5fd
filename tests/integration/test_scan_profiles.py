"""Scan profiles end to end: the simulator over loopback HTTP in both API versions, through refresher and exposition.

What the simulator draws (a failing profile, a silent one) must come out as the series the alerts read; a
missing scope, a failing customer or too many profiles must cost only that group, of that customer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from avepoint_simulator import FleetSpec, Simulator
from avepoint_simulator.scan_profiles import report
from exporter.exposition.text import encode
from exporter.model import Outcome
from tests.support.harness import Clock, make_config, make_refresher

NOW = 1_760_000_000.0
VERSIONS = ["legacy", "v3"]
# A fleet whose draws hold a failing and a silent profile (the test checks it does).
FLEET = FleetSpec(customers=8, seed=1)
LEGACY = "/partner/customers/{id}/scanProfiles"
LEGACY_ROUTES = (LEGACY, LEGACY + "/{ProfileId}/dailyNewSummary")
V3 = "/partner/external/v3/general/customers/{customerId}/scan-profiles/"
V3_ROUTES = (V3 + "batch", V3 + "{scanProfileId}/changes")
CODES = {
    2: ("Finished", "success"),
    3: ("Failed", "failed"),
    4: ("Finished with exception", "warning"),
    10: ("Stopped", "canceled"),
}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FLEET, clock=lambda: NOW, page_size=1) as simulator:
        yield simulator


def series(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


@pytest.mark.parametrize("version", VERSIONS)
def test_every_profile_is_exported_as_the_simulator_drew_it(sim: Simulator, version: str) -> None:
    cfg = make_config(sim, api={"version": version}, endpoints={"scan_profiles": True})
    assert cfg.auth.scopes[-1].endswith(".scanprofiles.read.all")
    refresher = make_refresher(cfg)
    snap = refresher.snapshot_within(wait=10)
    refresher.close()
    got = series(encode(snap).decode())
    drawn = {cid: sim.scan_profiles(cid) for cid in sim.customer_ids}
    assert any(p.failing for ps in drawn.values() for p in ps), "the fleet should hold a failing profile"
    assert any(p.silent_days for ps in drawn.values() for p in ps), "the fleet should hold a silent profile"
    assert any(len(ps) > 1 for ps in drawn.values()), "paging (page_size=1) should have a second page to read"
    for state in snap.customers:
        cid = state.customer.id
        assert state.scan_profiles_attempt.success and state.attempt.success
        assert {p.profile_id for p in state.scan_profiles} == {p.profile_id for p in drawn[cid]}
        for profile in drawn[cid]:
            at, code, new, moved, oop = report(profile, NOW)
            labels = {("customer_id", cid), ("profile_id", profile.profile_id)}
            (status,) = [dict(key[1]) for key in got if key[0] == "avepoint_scan_profile_status" and labels <= key[1]]
            # The codes the simulator sends, as both pages name them, and what they mean.
            assert (status["status"], status["outcome"]) == CODES[code]
            assert not profile.failing or status["outcome"] == Outcome.FAILED.value
            assert got[("avepoint_scan_profile_last_update_timestamp_seconds", frozenset(labels))] == at
            assert got[("avepoint_scan_profile_new_objects", frozenset(labels))] == new
            assert got[("avepoint_scan_profile_moved_objects", frozenset(labels))] == moved
            assert got[("avepoint_scan_profile_out_of_policy_objects", frozenset(labels))] == oop
            assert got[("avepoint_scan_profile_info", frozenset(labels | {("profile_name", profile.name)}))] == 1
            if profile.silent_days:
                assert NOW - at > profile.silent_days * 86400 - 1
            else:
                assert NOW - at < 86400
    routes = LEGACY_ROUTES if version == "legacy" else V3_ROUTES
    profiles = sum(len(ps) for ps in drawn.values())
    assert sim.requests[(routes[1], 200)] == profiles  # one summary per profile
    assert sim.requests[(routes[0], 200)] >= len(drawn) + 1  # paged: some customer needed two pages


@pytest.mark.parametrize("version", VERSIONS)
def test_a_missing_scope_fails_only_the_scan_profiles(sim: Simulator, version: str) -> None:
    prefix = "partner" if version == "legacy" else "elements"
    scopes = [f"{prefix}.customers.read.all", f"{prefix}.jobs.read.all"]
    cfg = make_config(sim, api={"version": version}, auth={"scopes": scopes}, endpoints={"scan_profiles": True})
    refresher = make_refresher(cfg)
    snap = refresher.snapshot_within(wait=10)
    refresher.close()
    assert snap.up
    for state in snap.customers:
        assert state.attempt.success and state.jobs  # the jobs are not hidden by the 403
        assert not state.scan_profiles_attempt.success
        assert f"{prefix}.scanprofiles.read.all" in str(state.scan_profiles_attempt.error)
    text = encode(snap).decode()
    assert 'endpoint="scan_profiles"} 0.0' in text and "avepoint_backup_job_status" in text


def test_one_failing_customer_and_one_with_too_many_profiles_cost_no_one_else(sim: Simulator) -> None:
    counts = {cid: len(sim.scan_profiles(cid)) for cid in sim.customer_ids}
    crowded = max(counts, key=lambda cid: counts[cid])
    failing = next(cid for cid in sim.customer_ids if counts[cid] < counts[crowded])
    limit = counts[crowded] - 1
    assert limit >= 1
    sim.faults.failing_customers = {failing}
    clock = Clock()
    cfg = make_config(sim, endpoints={"scan_profiles": True}, scan_profiles={"max_per_customer": limit})
    refresher = make_refresher(cfg, clock)
    snap = refresher.snapshot_within(wait=10)
    by_id = {s.customer.id: s for s in snap.customers}
    assert "scan_profiles.max_per_customer" in str(by_id[crowded].scan_profiles_attempt.error)
    assert by_id[crowded].attempt.success  # its jobs are still read
    assert not by_id[failing].scan_profiles_attempt.success
    for cid, state in by_id.items():
        if counts[cid] > limit:  # every customer over the bound fails alike, named
            assert "scan_profiles.max_per_customer" in str(state.scan_profiles_attempt.error)
    others = [s for cid, s in by_id.items() if cid != failing and counts[cid] <= limit]
    assert others and all(s.scan_profiles_attempt.success and s.scan_profiles for s in others)
    # The crowded customer's summaries were never asked for: the bound is checked first.
    asked = [path for _, _, path, _ in sim.request_log if "/dailyNewSummary" in path]
    assert not any(crowded in path for path in asked)

    # The upstream recovers: after the TTL the failing customer's profiles come; within it, nothing is asked.
    sim.faults.failing_customers = set()
    sim.reset_counters()
    clock.now = 30
    refresher.snapshot_within(wait=10)
    assert sum(sim.requests.values()) == 0
    clock.now = 61
    snap = refresher.snapshot_within(wait=10)
    refresher.close()
    recovered = next(s for s in snap.customers if s.customer.id == failing)
    assert recovered.scan_profiles_attempt.success and len(recovered.scan_profiles) == counts[failing]


def test_switched_off_by_default_nothing_is_asked(sim: Simulator) -> None:
    refresher = make_refresher(make_config(sim))
    text = encode(refresher.snapshot_within(wait=10)).decode()
    refresher.close()
    assert "avepoint_scan_profile" not in text and 'endpoint="scan_profiles"' not in text
    assert not any("scanProfiles" in template for template, _ in sim.requests)
