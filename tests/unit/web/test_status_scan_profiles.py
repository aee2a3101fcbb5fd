"""The status page's scan profiles: a column where the group is on, outcome glyphs, silent ones, problems, JSON."""

from __future__ import annotations

import json
from dataclasses import replace

from exporter import config
from exporter.model import Attempt, CustomerState, Failure, Outcome, ScanProfile
from exporter.web import status
from tests.support.views import CONFIG, HOUR, NOW, PROCESS
from tests.unit.web.test_status import HOSTILE, Tags, customer, job, page, snapshot

ON = replace(CONFIG, endpoints=replace(CONFIG.endpoints, scan_profiles=True))
DAY = 24 * HOUR


def with_profiles(cid: str, organization: str, *profiles: ScanProfile, attempt: Attempt | None = None) -> CustomerState:
    state = customer(cid, organization, job())
    return replace(state, scan_profiles=profiles, scan_profiles_attempt=attempt or Attempt(True, NOW - 60))


def test_no_column_while_the_group_is_off() -> None:
    state = with_profiles("c1", "Org", ScanProfile("p1", "Default", "Failed", Outcome.FAILED))
    text = page(snapshot(state))
    assert "Scan profiles" not in text and 'class="scan"' not in text
    assert "scan profile" not in " ".join(status.build(snapshot(state), PROCESS, NOW).rows[0].reasons)


def test_failing_and_silent_profiles_make_the_customer_a_problem() -> None:
    failing = ScanProfile("p1", "Default", "Failed", Outcome.FAILED, last_update=NOW - HOUR, new_objects=4)
    silent = ScanProfile("p2", "Sites", "Finished", Outcome.SUCCESS, last_update=NOW - 3 * DAY)
    fine = ScanProfile("p3", "Mail", "Finished", Outcome.SUCCESS, last_update=NOW - HOUR)
    snap = snapshot(
        with_profiles("c1", "Healthy", fine),
        with_profiles("c2", "Troubled", failing, silent),
        cfg=ON,
    )
    view = status.build(snap, PROCESS, NOW)
    troubled = view.rows[0]
    assert troubled.organization == "Troubled" and troubled.health == status.WARNING
    assert troubled.reasons == ("1 scan profile failed", "1 scan profile silent")
    assert [r.endpoint for r in troubled.refresh] == ["jobs", "scan_profiles"]
    assert view.rows[1].health == status.OK and view.rows[1].reasons == ()
    text = page(snap)
    assert '<th rowspan="2">Scan profiles</th>' in text
    assert '<span class="o o-failed" data-profile="p1" title="Default\nlast scan: Failed (failed)' in text
    assert "objects: new 4" in text
    assert '<span class="o o-success stale" data-profile="p2"' in text and "SILENT (over 2 d)" in text
    assert '<span class="o o-success" data-profile="p3"' in text


def test_a_failed_refresh_and_no_profiles() -> None:
    state = with_profiles("c1", "Org", attempt=Attempt(False, None, Failure("AuthError", "HTTP 403")))
    row = status.build(snapshot(state, cfg=ON), PROCESS, NOW).rows[0]
    assert "scan_profiles refresh failed" in row.reasons
    assert '<td class="scan">\u2013</td>' in page(snapshot(state, cfg=ON))


def test_hostile_profile_names_are_text() -> None:
    profiles = [ScanProfile(f"p{i}", name, "Finished", Outcome.SUCCESS) for i, name in enumerate(HOSTILE)]
    text = page(snapshot(with_profiles("c1", "Org", *profiles), cfg=ON))
    tags = Tags(text)
    assert "img" not in tags.tags and "h1" in tags.tags and tags.tags.count("h1") == 1
    assert "<script>alert(1)</script>" not in text


def test_json_lists_the_profiles_where_the_group_is_on() -> None:
    profile = ScanProfile("p1", "Default", "Failed", Outcome.FAILED, last_update=NOW - 3 * DAY, moved_objects=2)
    snap = snapshot(with_profiles("c1", "Org", profile), cfg=ON)
    (row,) = json.loads(status.render_json(status.build(snap, PROCESS, NOW)))["customers"]
    assert row["scan_profiles"] == [
        {
            "profile_id": "p1",
            "name": "Default",
            "status": "Failed",
            "outcome": "failed",
            "last_update_timestamp_seconds": NOW - 3 * DAY,
            "seconds_since_last_update": 3 * DAY,
            "silent": True,
            "new_objects": None,
            "moved_objects": 2,
            "out_of_policy_objects": None,
        }
    ]
    off = snapshot(with_profiles("c1", "Org", profile))
    (row,) = json.loads(status.render_json(status.build(off, PROCESS, NOW)))["customers"]
    assert "scan_profiles" not in row


def test_config_default_is_off() -> None:
    assert config.EndpointsConfig().scan_profiles is False


def test_the_legend_names_the_silent_frame_only_where_the_group_is_on() -> None:
    state = with_profiles("c1", "Org")
    assert "a scan profile: no daily report for 2 d" in page(snapshot(state, cfg=ON))
    assert "a scan profile" not in page(snapshot(state))
