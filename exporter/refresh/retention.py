"""Forgetting what the memories hold of jobs no longer exported: the last-success times and the run counts
both keep, per job, when it was last exported, and drop a job unexported for `state_retention`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from exporter.model import ModuleKey


def forget_unexported(
    memory: dict[ModuleKey, Any],
    seen: dict[ModuleKey, float],
    exported: Iterable[ModuleKey],
    now: float,
    retention: float,
) -> int:
    """Mark `exported` as seen `now`, then drop from `memory` (and `seen`) the jobs not seen for `retention`.

    A job remembered but never marked (read from the state file) counts as seen now. Returns how many went.
    """
    seen.update(dict.fromkeys(exported, now))
    gone = [key for key in memory if now - seen.setdefault(key, now) > retention]
    for key in gone:
        del memory[key], seen[key]
    return len(gone)
