"""The status page's view of a customer's scan profiles (endpoints.scan_profiles): one cell each, and problems. Pure."""

from __future__ import annotations

from typing import Any, NamedTuple

from exporter.model import Outcome, ScanProfile

# The AvePointScanProfileSilent alert's default (the mixin's scanProfileSilentDays): no daily report for 2 days.
SILENT_SECONDS = 2 * 86400.0


class ScanCell(NamedTuple):
    """One scan profile as the page shows it; silent as of the page's time (which its ages are computed from)."""

    profile_id: str
    name: str
    status: str
    outcome: Outcome
    last_update: float | None
    silent: bool
    new_objects: int | None
    moved_objects: int | None
    out_of_policy_objects: int | None


def cells(profiles: tuple[ScanProfile, ...], now: float) -> tuple[ScanCell, ...]:
    out = []
    for p in profiles:
        since = None if p.last_update is None else max(0.0, now - p.last_update)
        out.append(
            ScanCell(
                p.profile_id,
                p.name,
                p.status,
                p.outcome,
                p.last_update,
                since is not None and since > SILENT_SECONDS,
                p.new_objects,
                p.moved_objects,
                p.out_of_policy_objects,
            )
        )
    return tuple(out)


def reasons(scan: tuple[ScanCell, ...]) -> list[str]:
    """The row summary's words for its scan profiles: failed ones, then silent ones."""
    failed = sum(c.outcome is Outcome.FAILED for c in scan)
    silent = sum(c.silent for c in scan)
    out = []
    if failed:
        out.append(f"{failed} scan profile{'s' if failed > 1 else ''} failed")
    if silent:
        out.append(f"{silent} scan profile{'s' if silent > 1 else ''} silent")
    return out


def to_dicts(scan: tuple[ScanCell, ...], now: float) -> list[dict[str, Any]]:
    """The scan profiles of a customer in /status.json, their ages as of `now` (the page's time)."""
    return [
        {
            "profile_id": c.profile_id,
            "name": c.name,
            "status": c.status,
            "outcome": c.outcome.value,
            "last_update_timestamp_seconds": c.last_update,
            "seconds_since_last_update": None if c.last_update is None else max(0.0, now - c.last_update),
            "silent": c.silent,
            "new_objects": c.new_objects,
            "moved_objects": c.moved_objects,
            "out_of_policy_objects": c.out_of_policy_objects,
        }
        for c in scan
    ]
