"""The simulator's scan-profile routes: shapes, codes, methods and scopes as AvePoint's pages document them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from avepoint_simulator import FleetSpec, Simulator
from avepoint_simulator.scan_profiles import report
from tests.support.api import NOW, V3, get, http, session

LIST_FIELDS = {"profileName", "profileId", "scanMode", "modifiedTime"}  # both list pages' tables
# docs/elements/general/job/get-customer-scan-profile-changes.md, its sample's keys
V3_SUMMARY_FIELDS = {
    "profileName", "profileId", "tenantDomain", "tenantId", "description", "scanMode", "modifiedTime",
    "lastUpdateTime", "lastScanStatus", "newRegisteredContentCount", "movedToAnotherContainer",
    "removedFromMicrosoft365OrOutofPolicy", "newRegisteredContent", "removedFromMicrosoft365OrOutOfPolicyObjects",
    "movedToAnotherContainerObjects",
}  # fmt: skip
# docs/docs/services-and-features/elements/scan-profiles/daily-scan-profile-changes.md, its sample's keys
LEGACY_SUMMARY_FIELDS = {
    "@odata.context", "profileName", "profileID", "tenantDomain", "tenantID", "description", "scanMode",
    "modifiedTime", "lastUpdateTime", "lastScanStatus", "removedFromMicrosoft365OrOutofPolicyObjects",
    "newRegistedContent", "newRegisteredContentCount", "movedToAnotherContainerObjects",
}  # fmt: skip


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=6, seed=1), clock=lambda: NOW) as simulator:
        yield simulator


def test_legacy_list_and_summary(sim: Simulator) -> None:
    s = session(sim)
    for cid in sim.customer_ids:
        body = get(s, sim, f"/partner/customers/{cid}/scanProfiles").json()
        assert body["@odata.context"].endswith("#Collection(Portal.Api.Model.ProfileInfo)")
        assert [set(row) for row in body["value"]] == [LIST_FIELDS] * len(sim.scan_profiles(cid))
        for profile in sim.scan_profiles(cid):
            summary = get(s, sim, f"/partner/customers/{cid}/scanProfiles/{profile.profile_id}/dailyNewSummary").json()
            assert set(summary) == LEGACY_SUMMARY_FIELDS
            at, status, new, moved, oop = report(profile, NOW)
            assert summary["lastUpdateTime"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
            assert (summary["profileID"], summary["lastScanStatus"]) == (profile.profile_id, status)
            assert isinstance(status, int) and status in (2, 3, 4, 10)
            assert (summary["newRegisteredContentCount"], summary["movedToAnotherContainerObjects"]) == (new, moved)
            assert summary["removedFromMicrosoft365OrOutofPolicyObjects"] == oop


def test_v3_list_is_a_paged_post_and_the_changes_a_get(sim: Simulator) -> None:
    s = http(sim)
    cid = next(c for c in sim.customer_ids if len(sim.scan_profiles(c)) > 1)
    profiles = sim.scan_profiles(cid)
    url = f"{sim.base_url}{V3}/customers/{cid}/scan-profiles/batch"
    page = s.post(url + "?pageIndex=2&pageSize=1", json={}, timeout=5).json()
    assert page["metadata"] == {"pageIndex": 2, "pageSize": 1, "totalCount": len(profiles)}
    assert page["data"][0]["profileId"] == profiles[1].profile_id and set(page["data"][0]) == LIST_FIELDS
    chosen = s.post(url, json={"scanProfileIds": [profiles[0].profile_id]}, timeout=5).json()
    assert [row["profileId"] for row in chosen["data"]] == [profiles[0].profile_id]
    assert s.get(url, timeout=5).status_code == 405
    for profile in profiles:
        summary = s.get(f"{sim.base_url}{V3}/customers/{cid}/scan-profiles/{profile.profile_id}/changes", timeout=5)
        body = summary.json()
        assert set(body) == V3_SUMMARY_FIELDS
        _, status, _, _, oop = report(profile, NOW)
        assert body["lastScanStatus"] == status and body["removedFromMicrosoft365OrOutofPolicy"] == oop
        assert len(body["removedFromMicrosoft365OrOutOfPolicyObjects"]) == oop


def test_unknown_profile_and_missing_scope(sim: Simulator) -> None:
    cid = sim.customer_ids[0]
    assert get(session(sim), sim, f"/partner/customers/{cid}/scanProfiles/nope/dailyNewSummary").status_code == 404
    no_scope = session(sim, "partner.customers.read.all")
    answer = get(no_scope, sim, f"/partner/customers/{cid}/scanProfiles")
    assert answer.status_code == 403 and "partner.scanprofiles.read.all" in answer.text
    v3 = http(sim, "elements.customers.read.all")
    answer = v3.post(f"{sim.base_url}{V3}/customers/{cid}/scan-profiles/batch", json={}, timeout=5)
    assert answer.status_code == 403 and "elements.scanprofiles.read.all" in answer.text


def test_faults_are_drawn_from_the_seed() -> None:
    with (
        Simulator(FleetSpec(customers=12, seed=1), clock=lambda: NOW) as a,
        Simulator(FleetSpec(customers=12, seed=1), clock=lambda: NOW) as b,
    ):
        drawn = [p for cid in a.customer_ids for p in a.scan_profiles(cid)]
        assert drawn == [p for cid in b.customer_ids for p in b.scan_profiles(cid)]
    failing = [p for p in drawn if p.failing]
    silent = [p for p in drawn if p.silent_days]
    assert failing and silent and not {p.profile_id for p in failing} & {p.profile_id for p in silent}
    assert all(report(p, NOW)[1] == 3 for p in failing)
    assert all(NOW - report(p, NOW)[0] >= 3 * 86400 for p in silent)
    healthy = [p for p in drawn if not p.failing and not p.silent_days]
    assert all(NOW - report(p, NOW)[0] < 86400 for p in healthy)
