"""A customer's scan profiles and what their routes send at a moment, in either generation; pure, from the seed.

Shapes as AvePoint documents them (AvePoint/cloud-api): the lists `docs/elements/general/job/get-customer-scan-
profiles.md` (v3: profileName, profileId, scanMode, modifiedTime, paged) and `docs/docs/services-and-features/
elements/scan-profiles/all-scan-profiles.md` (legacy, OData `value`); the daily summaries `docs/elements/general/
job/get-customer-scan-profile-changes.md` (v3) and `.../scan-profiles/daily-scan-profile-changes.md` (legacy,
spelled as its sample: `profileID`, `tenantID`, the deprecated `newRegistedContent`, and two counts under the
`...Objects` names). `lastScanStatus` is an integer in both: 2 Finished, 3 Failed, 4 Finished with exception,
10 Stopped (the codes both pages list).

Faults drawn from the seed: some profiles fail every scan (status 3), and some are silent: their daily report
stopped being generated days ago, so `lastUpdateTime` lags the clock by 3 to 9 days.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Final

from avepoint_simulator.fleet import Customer, uniforms
from avepoint_simulator.rows import iso as _iso

_DAY: Final = 86400.0
_EPOCH: Final = 1704067200.0  # 2024-01-01T00:00:00Z: profiles were last modified some time after it
FINISHED, FAILED, FINISHED_WITH_EXCEPTION, STOPPED = 2, 3, 4, 10
# Shares of profiles that fail every scan, and that have gone silent.
FAILING_SHARE: Final = 0.12
SILENT_SHARE: Final = 0.10
_NAMES: Final = ("Default Microsoft 365 Scan Profile", "Sensitive sites", "Executive mailboxes", "Teams and Groups")


@dataclass(frozen=True, slots=True)
class Profile:
    """One scan profile of a customer: its fixed part; the daily report is computed per request."""

    customer_id: str
    tenant_id: str
    tenant_domain: str
    profile_id: str
    name: str
    scan_mode: int  # 0 Express, 1 Advanced
    modified: float
    daily_at: float  # seconds after midnight UTC of the daily scan
    failing: bool
    silent_days: int  # 0: reports daily
    key: bytes


def profiles(customer: Customer, seed: int) -> tuple[Profile, ...]:
    """The customer's profiles: one to four, drawn from the seed and the customer id."""
    (u_count, *_), _ = uniforms(f"{seed}|{customer.id}|scan-profiles".encode())
    count = 1 if u_count < 0.6 else 2 + int((u_count - 0.6) * 7.5)  # 60% one, else two to four
    tenant_id = customer.tenant_ids[0] if customer.tenant_ids else customer.id
    domain = customer.tenant_names[0].split(".")[0] if customer.tenant_names else "tenant"
    out = []
    for n in range(count):
        key = f"{seed}|{customer.id}|scan-profile|{n}".encode()
        (u_fault, u_mode, u_modified, u_at, u_silent, _), spare = uniforms(key)
        failing = u_fault < FAILING_SHARE
        silent = FAILING_SHARE <= u_fault < FAILING_SHARE + SILENT_SHARE
        out.append(
            Profile(
                customer_id=customer.id,
                tenant_id=tenant_id,
                tenant_domain=domain,
                profile_id=str(uuid.UUID(bytes=spare, version=4)),
                name=_NAMES[n % len(_NAMES)],
                scan_mode=0 if u_mode < 0.7 else 1,
                modified=_EPOCH + math.floor(u_modified * 300) * _DAY + 3600.0,
                daily_at=math.floor(u_at * 1440) * 60.0,
                failing=failing,
                silent_days=3 + int(u_silent * 7) if silent else 0,
                key=key,
            )
        )
    return tuple(out)


def last_report(profile: Profile, now: float) -> float:
    """When the profile's newest daily report was generated at `now` (a silent one stopped days ago)."""
    today = math.floor((now - profile.daily_at) / _DAY) * _DAY + profile.daily_at
    return today - profile.silent_days * _DAY


def report(profile: Profile, now: float) -> tuple[float, int, int, int, int]:
    """(lastUpdateTime, lastScanStatus, new, moved, out of policy) of the newest daily report at `now`."""
    at = last_report(profile, now)
    (u_status, u_new, u_moved, u_oop, *_), _ = uniforms(profile.key + f"|{int(at)}".encode())
    if profile.failing:
        status = FAILED
    else:
        status = FINISHED if u_status < 0.88 else FINISHED_WITH_EXCEPTION if u_status < 0.97 else STOPPED
    return at, status, int(u_new * 25), int(u_moved * 5), int(u_oop * 4)


def listing_row(profile: Profile) -> dict[str, object]:
    """An element of either list route (both pages give the same four fields)."""
    return {
        "profileName": profile.name,
        "profileId": profile.profile_id,
        "scanMode": profile.scan_mode,
        "modifiedTime": _iso(profile.modified),
    }


def summary_row(profile: Profile, now: float, *, v3: bool) -> dict[str, object]:
    """The daily summary: v3 `.../changes` as its sample, or legacy `.../dailyNewSummary` as its sample."""
    at, status, new, moved, oop = report(profile, now)
    common: dict[str, object] = {
        "profileName": profile.name,
        "tenantDomain": profile.tenant_domain,
        "description": "Scans the tenant's Microsoft 365 objects daily.",
        "scanMode": profile.scan_mode,
        "modifiedTime": _iso(profile.modified),
        "lastUpdateTime": _iso(at),
        "lastScanStatus": status,
    }
    if not v3:
        return {
            **common,
            "profileID": profile.profile_id,
            "tenantID": profile.tenant_id,
            "removedFromMicrosoft365OrOutofPolicyObjects": oop,
            "newRegistedContent": new,
            "newRegisteredContentCount": new,
            "movedToAnotherContainerObjects": moved,
        }
    return {
        **common,
        "profileId": profile.profile_id,
        "tenantId": profile.tenant_id,
        "newRegisteredContentCount": new,
        "movedToAnotherContainer": moved,
        "removedFromMicrosoft365OrOutofPolicy": oop,
        # The page types these as lists without documenting an item's fields (bar the removed objects,
        # string[]): the removed objects are named, the other two left empty rather than invented.
        "newRegisteredContent": [],
        "removedFromMicrosoft365OrOutOfPolicyObjects": [
            f"https://{profile.tenant_domain}.sharepoint.com/sites/removed-{i + 1}" for i in range(oop)
        ],
        "movedToAnotherContainerObjects": [],
    }
