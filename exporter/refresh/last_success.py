"""The last-success memory: each job's newest success, when it was last exported, and the state file
that keeps both across restarts, with the run memory's part (exporter/refresh/runs.py)."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from exporter import codes
from exporter.model import CustomerState, Job, JobKey, ModuleKey, Outcome
from exporter.refresh.retention import forget_unexported
from exporter.refresh.runs import Saved

log = logging.getLogger(__name__)

SUCCESSFUL = frozenset({Outcome.SUCCESS, Outcome.WARNING})

# (end of the newest successful job, wall time the job was last exported): the second lets entries of
# jobs gone for good be forgotten (state_retention) instead of growing the file without bound.
Entry = tuple[float, float]
# Version 1 had no last-seen time; it is still read (each entry seen "now", at the upgrade). Version 3 added
# `runs`: per job the run counted last and since when its runs are counted (versions 1 and 2: none known).
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
# What tempfile.mkstemp adds to a prefix: 8 characters of this alphabet.
_MKSTEMP_TAIL = r"[a-z0-9_]{8}"
# Temp files of versions before 2: one prefix for every state file, so not safe to delete (see clean_temp_files).
_LEGACY_TEMP = re.compile(r"\.state-" + _MKSTEMP_TAIL + r"\Z")


@dataclass(frozen=True)
class Loaded:
    """What `load` found. `readable` False: the file exists but cannot be used, and must not be overwritten."""

    entries: dict[JobKey, Entry] = field(default_factory=dict)
    runs: dict[JobKey, Saved] = field(default_factory=dict)
    readable: bool = True
    skipped: int = 0  # malformed entries left out
    error: str = ""


def temp_prefix(path: str) -> str:
    """The prefix of `save`'s temp files for `path`: named after the state file, so that cleaning up
    after a kill touches no other file, not even another exporter's state file in the same directory."""
    return f".{Path(path).name}.tmp-"


def clean_temp_files(path: str) -> int:
    """Remove the temp files an interrupted save (kill -9 between write and rename) left beside `path`.

    Only regular files named exactly as `save` names them for this state file. Returns how many.
    Called at start, before this process saves anything, so none of them is still being written.
    """
    if not path:
        return 0
    target = Path(path)
    own = re.compile(re.escape(temp_prefix(path)) + _MKSTEMP_TAIL + r"\Z")
    removed = size = legacy = 0
    try:
        names = os.listdir(target.parent)
    except (OSError, ValueError):
        return 0  # load() reports what is wrong with the path
    for name in names:
        is_own = own.match(name) is not None
        if not is_own and _LEGACY_TEMP.match(name) is None:
            continue
        candidate = target.parent / name
        try:
            info = candidate.lstat()
            if not stat.S_ISREG(info.st_mode):
                continue
            if not is_own:
                legacy += 1
                continue
            candidate.unlink()
        except OSError:
            continue
        removed += 1
        size += info.st_size
    if removed:
        log.info(
            "removed temp files an interrupted save of the state file left",
            extra={"path": path, "files": removed, "bytes": size},
        )
    if legacy:
        # An older version named its temp files .state-* whatever the state file: another exporter's in the
        # same directory could be one being written right now, so they are reported, not deleted.
        log.warning(
            "files named .state-* beside the state file look left by an older version killed while saving; "
            "delete them by hand if no other exporter uses this directory",
            extra={"path": path, "files": legacy},
        )
    return removed


def _unreadable(path: str, error: str) -> Loaded:
    log.error(
        "state file cannot be read: it is left untouched and last-success times are not saved until it is "
        "fixed (or moved away) and the exporter restarted",
        extra={"path": path, "error": error},
    )
    return Loaded(readable=False, error=error)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _key(item: object) -> JobKey | str:
    if not isinstance(item, dict):
        return "not an object"
    key = (item.get("customer_id"), item.get("job_type"), item.get("job_module"))
    if not all(isinstance(part, str) and part for part in key):
        return "customer_id, job_type or job_module missing or not a string"
    return (key[0], key[1], key[2])  # type: ignore[return-value]  # checked str above


def _entry(item: object, now: float) -> tuple[JobKey, Entry] | str:
    """One last-success entry, or why it is malformed."""
    key = _key(item)
    if isinstance(key, str):
        return key
    assert isinstance(item, dict)
    timestamp = _number(item.get("timestamp"))
    if timestamp is None:
        return "timestamp missing or not a finite number"
    seen = _number(item["seen"]) if "seen" in item else now
    if seen is None:
        return "seen not a finite number"
    return key, (timestamp, seen)


def _run_entry(item: object) -> tuple[JobKey, Saved] | str:
    """One run entry (version 3), or why it is malformed."""
    key = _key(item)
    if isinstance(key, str):
        return key
    assert isinstance(item, dict)
    job_id = item.get("job_id")
    if job_id is not None and not isinstance(job_id, str):
        return "job_id not a string or null"
    start = item.get("start_time")
    start_time = None if start is None else _number(start)
    if start is not None and start_time is None:
        return "start_time not a finite number or null"
    since, seen = _number(item.get("since")), _number(item.get("seen"))
    if since is None or seen is None:
        return "since or seen missing or not a finite number"
    return key, (job_id, start_time, since, seen)


def load(path: str, now: float) -> Loaded:
    """Read the state file. Missing or empty: nothing remembered yet. Unreadable (not a file, not UTF-8,
    not JSON, a version this code does not know): `readable` False, logged. A malformed entry is left out,
    counted and logged once; the others are kept. `now` is the last-seen time of version 1 entries."""
    if not path:
        return Loaded()
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return Loaded()
    except OSError as exc:  # a directory, permission denied, an I/O error
        return _unreadable(path, exc.strerror or type(exc).__name__)
    except ValueError:  # a NUL in the name
        return _unreadable(path, "not a usable file name")
    if not raw.strip():
        return Loaded()  # nothing in it to lose
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return _unreadable(path, "not UTF-8 text")
    except (ValueError, RecursionError) as exc:
        return _unreadable(path, f"not valid JSON ({type(exc).__name__})")
    if not isinstance(data, dict) or "version" not in data:
        return _unreadable(path, "not a state file (no version)")
    version = data["version"]
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        # A newer exporter's file after a downgrade, say: overwriting it would lose what the newer one kept.
        return _unreadable(path, f"format version {str(version)[:20]!r} unknown to this version of the exporter")
    items = data.get("last_success")
    if not isinstance(items, list):
        return _unreadable(path, "last_success is not a list")
    run_items = data.get("runs", [])  # versions 1 and 2 have none
    if not isinstance(run_items, list):
        return _unreadable(path, "runs is not a list")
    entries: dict[JobKey, Entry] = {}
    skipped = 0
    first_reason = ""
    floats: dict[float, float] = {}  # one object per distinct time: entries saved in one cycle share it
    for item in items:
        found = _entry(item, now)
        if isinstance(found, str):
            skipped += 1
            first_reason = first_reason or found
            continue
        key, (timestamp, seen) = found
        old = entries.get(key)
        if old is None or timestamp > old[0]:
            entries[key] = (timestamp, floats.setdefault(seen, seen))
    runs: dict[JobKey, Saved] = {}
    for item in run_items:
        run = _run_entry(item)
        if isinstance(run, str):
            skipped += 1
            first_reason = first_reason or "runs: " + run
            continue
        key, saved = run
        if key not in runs or saved[3] > runs[key][3]:  # a repeated job: the one exported last
            runs[key] = saved
    if skipped:
        log.warning(
            "state file has malformed entries; they are left out, the others kept",
            extra={"path": path, "skipped": skipped, "kept": len(entries) + len(runs), "first_problem": first_reason},
        )
    return Loaded(entries, runs, True, skipped)


def save(path: str, entries: Mapping[JobKey, Entry], runs: Mapping[JobKey, Saved] | None = None) -> bool:
    """Write atomically (temp file, fsync, rename) so a crash never leaves half a file. False on failure."""
    if not path:
        return True
    rows = [
        {"customer_id": c, "job_type": t, "job_module": m, "timestamp": ts, "seen": seen}
        for (c, t, m), (ts, seen) in sorted(entries.items())
    ]
    run_rows = [
        {
            "customer_id": c,
            "job_type": t,
            "job_module": m,
            "job_id": job_id,
            "start_time": start,
            "since": since,
            "seen": seen,
        }
        for (c, t, m), (job_id, start, since, seen) in sorted((runs or {}).items())
    ]
    body = json.dumps({"version": FORMAT_VERSION, "last_success": rows, "runs": run_rows}, indent=0)
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), dir=target.parent or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except (OSError, ValueError) as exc:
        log.warning(
            "cannot write state file", extra={"path": path, "error": getattr(exc, "strerror", None) or str(exc)}
        )
        return False
    return True


class LastSuccess:
    """Every job's newest success, loaded from the state file at start and saved to it after each cycle.

    Not locked: the refresher calls it under its own lock, `save` excepted (it reads only what is fixed).
    """

    def __init__(self, path: str, report: Callable[[bool, int], None], wall_clock: Callable[[], float]) -> None:
        self._wall = wall_clock
        # customer id -> module -> time; all of it is saved, also for customers not listed right now,
        # until its job has not been exported for state_retention (then it is gone for good).
        self._last_success: dict[str, dict[ModuleKey, float]] = {}
        self._last_seen: dict[str, dict[ModuleKey, float]] = {}  # wall time each was last exported
        self._load(path, report)

    def _load(self, path: str, report: Callable[[bool, int], None]) -> None:
        # The path is fixed for the process: a file changed by a reload was never read, so writing it would
        # replace what it holds with what this process remembers.
        self._state_path = path
        self._report_state = report
        clean_temp_files(path)
        loaded = load(path, self._wall())
        # A file that exists but could not be read is never overwritten: it may hold every last-success
        # time there is, and a person can fix it. Until then nothing is saved (avepoint_state_file_ok 0).
        self._state_writable = loaded.readable
        self._saved_runs = loaded.runs
        for (cid, job_type, module), (ts, seen) in loaded.entries.items():
            # Entries written under the legacy spelling ("OneDrive for Business") belong to the canonical
            # series now; where both spellings were saved, the newer success (and sighting) wins.
            key = (codes.canonical_job_type(job_type), codes.canonical_job_module(module))
            memory, sightings = self._last_success.setdefault(cid, {}), self._last_seen.setdefault(cid, {})
            memory[key] = max(ts, memory.get(key, ts))
            sightings[key] = max(seen, sightings.get(key, seen))
        report(loaded.readable, loaded.skipped)
        self._state_skipped = loaded.skipped

    @property
    def saving(self) -> bool:
        """Whether `save` writes anything: a state file is set, and was readable at start."""
        return bool(self._state_path) and self._state_writable

    def take_saved_runs(self) -> dict[JobKey, Saved]:
        """The run entries the state file held, handed once to the run memory (exporter/refresh/runs.py)."""
        runs, self._saved_runs = self._saved_runs, {}
        return runs

    def record(self, customer_id: str, jobs: tuple[Job, ...]) -> dict[ModuleKey, float]:
        """Record new successes; return the times of the modules in `jobs` (the ones to export)."""
        seen = self._last_success.setdefault(customer_id, {})
        for job in jobs:
            if job.outcome in SUCCESSFUL and job.end_time is not None and job.end_time > seen.get(job.key, 0.0):
                seen[job.key] = job.end_time
        return {job.key: seen[job.key] for job in jobs if job.key in seen}

    def prune(self, customers: Mapping[str, CustomerState], retention: float) -> dict[JobKey, Entry]:
        """Mark the jobs `customers` export as seen now; forget those gone past `retention`.

        Returns every remembered success and when its job was last exported: what `save` writes.
        """
        now = self._wall()
        saving = self.saving  # else only forget, in memory
        out: dict[JobKey, Entry] = {}
        pruned = 0
        for cid, times in list(self._last_success.items()):
            seen = self._last_seen.setdefault(cid, {})
            current = customers.get(cid)
            # Exactly the exported jobs with a remembered success (see record).
            exported = current.last_success if current is not None else ()
            pruned += forget_unexported(times, seen, exported, now, retention)
            if not times:
                del self._last_success[cid]
                self._last_seen.pop(cid, None)
            elif saving:
                for key, ts in times.items():
                    out[(cid, *key)] = (ts, seen[key])
        if pruned:
            log.info("forgot last-success times of jobs not exported for state_retention", extra={"entries": pruned})
        return out

    def save(self, entries: Mapping[JobKey, Entry], runs: Mapping[JobKey, Saved] | None = None) -> None:
        if self.saving:
            self._report_state(save(self._state_path, entries, runs), self._state_skipped)
