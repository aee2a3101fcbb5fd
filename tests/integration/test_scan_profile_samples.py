"""AvePoint's published scan-profile samples, served verbatim over loopback: what each exports, field by field.

The samples are under tests/fixtures/avepoint/ (its README names each page and the one syntax repair); the
customer listings and jobs are the other samples of test_doc_samples.py.
"""

from __future__ import annotations

from typing import Any

from exporter.model import Outcome, ScanProfile
from tests.integration.test_doc_samples import (
    LEGACY_CUSTOMERS,
    V3,
    legacy_routes,
    refresh,
    sample,
    serve,  # noqa: F401 - the fixture
    state_of,
    ts,
    v3_routes,
)

ENDPOINTS = {"endpoints": {"scan_profiles": True}}


def test_legacy_scan_profile_samples(serve: Any) -> None:  # noqa: F811
    routes = {
        **legacy_routes(),
        ("GET", "/partner/customers/*/scanProfiles"): sample("legacy-scan-profiles.json"),
        ("GET", "/partner/customers/*/scanProfiles/*/dailyNewSummary"): sample("legacy-scan-profile-summary.json"),
    }
    upstream = serve(routes)
    snap, series = refresh(upstream, "legacy", **ENDPOINTS)
    # The list's profileId names the profile (the summary sample's profileID differs: masked independently);
    # the summary's modifiedTime and name win; lastScanStatus 2 is Finished; the counts the sample spells as
    # the ...Objects fields (numbers there) are read as counts.
    profile = ScanProfile(
        "0e5e152d-65cc-65cc-65cc-65cc65cc65cc",
        "test oop",
        "Finished",
        Outcome.SUCCESS,
        last_update=ts("2024-12-27T17:08:24Z"),
        modified=ts("2024-10-27T17:08:24Z"),
        new_objects=0,
        moved_objects=0,
        out_of_policy_objects=0,
    )
    cid = LEGACY_CUSTOMERS[0].id
    state = state_of(snap, cid)
    assert state.scan_profiles == (profile,) and state.scan_profiles_attempt.success
    assert ("GET", f"/partner/customers/{cid}/scanProfiles/{profile.profile_id}/dailyNewSummary") in upstream.requests
    labels = {("customer_id", cid), ("profile_id", profile.profile_id)}
    status = {("status", "Finished"), ("outcome", "success")}
    assert series[("avepoint_scan_profile_status", frozenset(labels | status))] == 1
    assert series[("avepoint_scan_profile_info", frozenset(labels | {("profile_name", "test oop")}))] == 1
    assert series[("avepoint_scan_profile_last_update_timestamp_seconds", frozenset(labels))] == profile.last_update
    assert series[("avepoint_scan_profile_out_of_policy_objects", frozenset(labels))] == 0
    ok = frozenset({("customer_id", cid), ("endpoint", "scan_profiles")})
    assert series[("avepoint_refresh_success", ok)] == 1


def test_v3_scan_profile_samples(serve: Any) -> None:  # noqa: F811
    routes = {
        **v3_routes(),
        ("POST", V3 + "/customers/*/scan-profiles/batch"): sample("v3-scan-profiles.json"),
        ("GET", V3 + "/customers/*/scan-profiles/*/changes"): sample("v3-scan-profile-changes.json"),
    }
    upstream = serve(routes)
    snap, series = refresh(upstream, "v3", **ENDPOINTS)
    profile = ScanProfile(
        "47db****-1004-****-b2ce-8f5e****842d",
        "Default Microsoft 365 Scan Profile",
        "Finished",  # code 2
        Outcome.SUCCESS,
        last_update=ts("2025-09-11T03:19:14Z"),
        modified=ts("2025-09-11T03:19:14Z"),
        new_objects=0,
        moved_objects=0,
        out_of_policy_objects=0,  # the count field; the ...Objects list beside it is the detail, not a count
    )
    for customer in snap.customers:
        assert customer.scan_profiles == (profile,), customer.customer.id
        assert customer.scan_profiles_attempt.success
        path = f"{V3}/customers/{customer.customer.id}/scan-profiles/{profile.profile_id}/changes"
        assert ("GET", path) in upstream.requests
        assert ("POST", f"{V3}/customers/{customer.customer.id}/scan-profiles/batch") in upstream.requests
    cid = snap.customers[0].customer.id
    labels = frozenset({("customer_id", cid), ("profile_id", profile.profile_id)})
    assert series[("avepoint_scan_profile_new_objects", labels)] == 0
    assert series[("avepoint_scan_profile_modified_timestamp_seconds", labels)] == profile.modified
