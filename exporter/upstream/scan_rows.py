"""Scan-profile rows to records: a profile's listing row and its daily summary, in either API generation; pure.

Sources (AvePoint/cloud-api): the lists `docs/elements/general/job/get-customer-scan-profiles.md` (v3) and
`docs/docs/services-and-features/elements/scan-profiles/all-scan-profiles.md` (legacy) give profileId,
profileName, scanMode and modifiedTime; the summaries `docs/elements/general/job/get-customer-scan-profile-
changes.md` (v3) and `.../scan-profiles/daily-scan-profile-changes.md` (legacy) add lastUpdateTime,
lastScanStatus (an integer in both) and the counts of the daily report.
"""

from __future__ import annotations

from collections.abc import Mapping

from exporter import codes
from exporter.model import Outcome, ScanProfile
from exporter.upstream.rows import _coded, _field, _label, _optional_text, _required, outcome
from exporter.upstream.values import ParseError, count, is_missing, timestamp

_SCAN_STATUS = _coded(codes.SCAN_STATUSES)

# (record attribute, the field the pages' tables name, the field the legacy sample sends instead). The legacy
# page's sample spells two counts as the v3 page spells its object lists ("movedToAnotherContainerObjects": 0),
# so a number there is read as the count; a list there (v3's details) is not a count and is left alone.
_COUNTS = (
    ("new_objects", "newRegisteredContentCount", "newRegistedContent"),
    ("moved_objects", "movedToAnotherContainer", "movedToAnotherContainerObjects"),
    ("out_of_policy_objects", "removedFromMicrosoft365OrOutofPolicy", "removedFromMicrosoft365OrOutOfPolicyObjects"),
)


def _folded(row: Mapping[str, object]) -> dict[str, object]:
    """The row with case-folded keys: the legacy sample writes `profileID` and `IsSendOutOfPolicyNotification`
    where its table says `profileId` and `isSendOutOfPolicyNotification`."""
    return {key.casefold(): value for key, value in row.items() if isinstance(key, str)}


def _status(raw: object) -> str | None:
    if raw is None or is_missing(raw):
        return None
    return _SCAN_STATUS(raw)


def _a_count(raw: object) -> int | None:
    if isinstance(raw, list):
        raise ParseError("a list, not a count")
    return count(raw)


def scan_profile(
    listed: Mapping[str, object],
    summary: Mapping[str, object] | None,
    overrides: Mapping[str, Outcome] | None = None,
) -> tuple[ScanProfile | None, list[str]]:
    """A scan profile from its listing row and (when fetched) its daily summary, and the fields not read.

    Never raises. Without a usable `profileId` in the listing row the record is None. The summary's
    name wins over the listing's (both are the same profile's). An N/A, missing or unparseable
    time or count is None and, unless simply absent, named; `lastScanStatus` becomes its documented
    name (an unknown code its decimal) and its outcome as job statuses map (`jobs.status_outcomes`
    applies too). Without a summary the status is "" and the outcome unknown.
    """
    errors: list[str] = []
    if not isinstance(listed, Mapping):
        return None, ["profileId"]
    row = _folded(listed)
    profile_id = _required(row, "profileid", errors)
    if profile_id is None:
        return None, ["profileId"]
    name = _label(row, "profilename", _optional_text, errors) or ""
    modified = _field(row, "modifiedtime", timestamp, errors)
    if summary is None:
        return ScanProfile(profile_id, name, modified=modified), _named(errors)
    info = _folded(summary)
    name = _label(info, "profilename", _optional_text, errors) or name
    status = _label(info, "lastscanstatus", _status, errors)
    counts: dict[str, int | None] = {}
    for attr, field_name, legacy_name in _COUNTS:
        key = field_name.casefold()
        if key not in info and not isinstance(info.get(legacy_name.casefold()), list | type(None)):
            key = legacy_name.casefold()
        counts[attr] = _field(info, key, _a_count, errors)
    record = ScanProfile(
        profile_id=profile_id,
        name=name,
        status=status or "",
        outcome=status_outcome(status, overrides),
        last_update=_field(info, "lastupdatetime", timestamp, errors),
        modified=_field(info, "modifiedtime", timestamp, errors) or modified,
        **counts,
    )
    return record, _named(errors)


# The API's spelling of each folded key, for the parse-error log and metric (the fields as the pages name them).
_SPELLED = {
    name.casefold(): name
    for name in (
        "profileId",
        "profileName",
        "modifiedTime",
        "lastUpdateTime",
        "lastScanStatus",
        *(spelled for _, *names in _COUNTS for spelled in names),
    )
}


def _named(errors: list[str]) -> list[str]:
    # A Repaired name stays Repaired: only the spelling changes, through str's own type.
    return [type(e)(_SPELLED.get(e, e)) for e in errors]


def status_outcome(status: str | None, overrides: Mapping[str, Outcome] | None) -> Outcome:
    """A scan profile's outcome from its last scan status, as job statuses map; unknown without one."""
    return outcome(status, overrides) if status else Outcome.UNKNOWN
