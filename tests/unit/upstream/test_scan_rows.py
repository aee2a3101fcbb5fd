"""Scan-profile parsing: the documented samples of both generations, and what is left out and named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exporter.model import Outcome, ScanProfile
from exporter.upstream.rows import Repaired
from exporter.upstream.scan_rows import scan_profile
from tests.support import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "avepoint"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_v3_sample_pair() -> None:
    (listed,) = load("v3-scan-profiles.json")["data"]
    record, errors = scan_profile(listed, load("v3-scan-profile-changes.json"))
    assert errors == []
    assert record == ScanProfile(
        "47db****-1004-****-b2ce-8f5e****842d",
        "Default Microsoft 365 Scan Profile",
        "Finished",
        Outcome.SUCCESS,
        last_update=1757560754.0,
        modified=1757560754.0,
        new_objects=0,
        moved_objects=0,
        out_of_policy_objects=0,
    )


def test_legacy_sample_pair_reads_the_sample_spellings() -> None:
    (listed,) = load("legacy-scan-profiles.json")["value"]
    record, errors = scan_profile(listed, load("legacy-scan-profile-summary.json"))
    assert errors == []
    assert record is not None
    assert (record.profile_id, record.status, record.outcome) == (listed["profileId"], "Finished", Outcome.SUCCESS)
    assert (record.new_objects, record.moved_objects, record.out_of_policy_objects) == (0, 0, 0)


def test_legacy_table_spelling_and_counts() -> None:
    # The legacy page's table names the counts as v3 does; values that tell the three apart.
    summary = {
        "profileID": "p",
        "lastScanStatus": 4,
        "lastUpdateTime": "2025-01-02T00:00:00Z",
        "newRegisteredContentCount": 7,
        "movedToAnotherContainer": "3",
        "removedFromMicrosoft365OrOutofPolicy": 5,
    }
    record, errors = scan_profile({"profileId": "p", "profileName": "n"}, summary)
    assert errors == []
    assert record == ScanProfile(
        "p",
        "n",
        "Finished with exception",
        Outcome.WARNING,
        last_update=1735776000.0,
        new_objects=7,
        moved_objects=3,
        out_of_policy_objects=5,
    )


@pytest.mark.parametrize(
    ("code", "status", "outcome"),
    [
        (1, "Running", Outcome.RUNNING),
        (3, "Failed", Outcome.FAILED),
        (7, "Failed to start", Outcome.FAILED),
        (10, "Stopped", Outcome.CANCELED),
        (11, "Not scanned", Outcome.NOT_RUN),
        (14, "Waiting for configuration", Outcome.NOT_RUN),
        (99, "99", Outcome.UNKNOWN),
        ("Failed", "Failed", Outcome.FAILED),  # a name, should a generation send one
    ],
)
def test_status_codes(code: object, status: str, outcome: Outcome) -> None:
    record, errors = scan_profile({"profileId": "p"}, {"lastScanStatus": code})
    assert errors == [] and record is not None
    assert (record.status, record.outcome) == (status, outcome)


def test_status_overrides_apply() -> None:
    record, _ = scan_profile({"profileId": "p"}, {"lastScanStatus": 11}, {"not scanned": Outcome.FAILED})
    assert record is not None and record.outcome is Outcome.FAILED


def test_na_is_left_out_unparseable_is_named() -> None:
    summary = {
        "lastScanStatus": True,
        "lastUpdateTime": "yesterday",
        "modifiedTime": "N/A",
        "newRegisteredContentCount": "N/A",
        "movedToAnotherContainer": -1,
        "removedFromMicrosoft365OrOutofPolicy": [],
    }
    record, errors = scan_profile({"profileId": "p", "profileName": "n"}, summary)
    assert record == ScanProfile("p", "n")
    assert sorted(errors) == [
        "lastScanStatus",
        "lastUpdateTime",
        "movedToAnotherContainer",
        "removedFromMicrosoft365OrOutofPolicy",
    ]


def test_detail_lists_are_not_counts() -> None:
    # v3 sends the ...Objects fields as lists beside the counts; without a count, a list is no count.
    record, errors = scan_profile({"profileId": "p"}, {"movedToAnotherContainerObjects": [{"x": 1}]})
    assert errors == [] and record is not None and record.moved_objects is None


def test_without_id_nothing_is_made() -> None:
    assert scan_profile({"profileName": "n"}, None) == (None, ["profileId"])
    assert scan_profile({"profileId": "  "}, None) == (None, ["profileId"])


def test_without_summary_the_listing_is_kept() -> None:
    record, errors = scan_profile({"profileId": "p", "modifiedTime": "2025-01-02T00:00:00Z"}, None)
    assert errors == [] and record == ScanProfile("p", "", modified=1735776000.0)


def test_hostile_name_is_repaired_and_named() -> None:
    record, errors = scan_profile({"profileId": "p", "profileName": "a\x00b"}, {"lastScanStatus": 2})
    assert record is not None and record.name == "a\ufffdb"
    assert errors == ["profileName"] and isinstance(errors[0], Repaired)
