"""The run memory: which run of each job was accounted for last, the runs counted per outcome, and what of it
the state file keeps.

The API tells only the latest run of each (job type, module). A run is identified by (job id, start time);
it is counted once, when it is first seen finished (outcome success, warning, failed, canceled or unknown),
whatever it was when first seen. What counts as "seen before" is the run accounted for last, one per job:

- First sight of a job (nothing remembered of it): a finished run it shows is the baseline and counts nothing.
  An earlier process (a pod restarted without a volume) may have counted it already, and counting it again
  would add a run per restart to `increase()`. A run first seen running is not the baseline: no earlier
  process can have counted a run that had not finished, so it counts when it finishes.
- A never-run row (Job.never_ran) counts nothing and accounts for nothing.
- A run that started before the one accounted for last is an older row, not a new run: nothing.

Memory is one small tuple per job (issue 17 counts bytes per job): (job id, start time, Runs), where job id
and start time are those of the run accounted for last (None, None: none yet), and Runs is the exported
counts object itself, shared with the snapshot and replaced only when a run is counted. Not locked: the
refresher calls it under its own lock.
"""

from __future__ import annotations

from collections.abc import Mapping

from exporter import codes
from exporter.model import FINISHED, CustomerState, Job, JobKey, ModuleKey, Runs
from exporter.refresh.retention import forget_unexported

# Per job: the run accounted for last (job id, start time; None, None for none yet) and its counts.
Memory = tuple[str | None, float | None, Runs]
# What the state file keeps per job: the run accounted for last, since when it is counted, when last exported.
# Not the counts: restored from a file older than what Prometheus scraped last (a crash between a refresh and
# the next save), a counter would go down, and increase() would take the drop for a reset and add the whole
# value again. Starting at 0 is a reset it handles; the cost is a run counted after the last scrape before a
# stop, which no later value shows.
Saved = tuple[str | None, float | None, float, float]

_FINISHED = frozenset(FINISHED)


class RunMemory:
    """Counts the finished runs of every job across refreshes; monotonic for the process's life."""

    def __init__(self, saved: Mapping[JobKey, Saved] | None = None) -> None:
        self._jobs: dict[str, dict[ModuleKey, Memory]] = {}
        self._seen: dict[str, dict[ModuleKey, float]] = {}  # wall time each job was last exported
        for (cid, job_type, module), (job_id, start, since, seen) in (saved or {}).items():
            # Spelled as the series are now (a legacy spelling saved earlier maps to the canonical one).
            key = (codes.canonical_job_type(job_type), codes.canonical_job_module(module))
            sightings = self._seen.setdefault(cid, {})
            if seen >= sightings.get(key, seen):
                self._jobs.setdefault(cid, {})[key] = (job_id, start, Runs(since))
                sightings[key] = seen

    def record(self, customer_id: str, jobs: tuple[Job, ...], now: float) -> dict[ModuleKey, Runs]:
        """Count the runs of `jobs` seen finished for the first time; return the counts of the modules in `jobs`.

        `now` (wall time) is the first sight of a job not remembered yet.
        """
        memory = self._jobs.setdefault(customer_id, {})
        out: dict[ModuleKey, Runs] = {}
        # One object for every job first seen now (a tuple, never changed: counting makes a new one), not one
        # per job: most jobs of a fleet have counted nothing yet.
        first = Runs(now)
        for job in jobs:
            key = job.key
            entry = memory.get(key)
            finished = not job.never_ran and job.outcome in _FINISHED
            if entry is None:
                # First sight: a finished run is the baseline; a running one is counted when it finishes.
                entry = (job.job_id, job.start_time, first) if finished else (None, None, first)
                memory[key] = entry
            elif finished:
                entry = _after(entry, job)
                memory[key] = entry
            out[key] = entry[2]
        return out

    def prune(
        self, customers: Mapping[str, CustomerState], retention: float, now: float, saving: bool = True
    ) -> dict[JobKey, Saved]:
        """Mark the jobs `customers` export as seen now; forget those not exported for `retention`.

        A job forgotten and seen again later is a first sight: its counts start again at 0 (a counter reset,
        which Prometheus' increase() handles). Returns what the state file keeps of every job remembered
        (nothing unless `saving`: without a state file only forget).
        """
        out: dict[JobKey, Saved] = {}
        for cid, memory in list(self._jobs.items()):
            seen = self._seen.setdefault(cid, {})
            current = customers.get(cid)
            forget_unexported(memory, seen, current.runs if current is not None else (), now, retention)
            if not memory:
                del self._jobs[cid]
                self._seen.pop(cid, None)
                continue
            if not saving:
                continue
            for key, (job_id, start, runs) in memory.items():
                out[(cid, *key)] = (job_id, start, runs.since, seen[key])
        return out


def _after(entry: Memory, job: Job) -> Memory:
    """The memory after seeing `job` finished: a new run counted, or the same run with what the row adds.

    A run is (job id, start time), but a row may lack either (N/A, or unparseable this once). Only the parts
    both sides know are compared, and a known part is never replaced by a missing one: otherwise a start time
    flipping between known and N/A would count the same run again at every flip.
    """
    job_id, start, runs = entry
    if job_id is None and start is None:  # nothing accounted for yet (first seen running, or never ran)
        return job.job_id, job.start_time, runs.counted(job.outcome)
    ids_differ = job_id is not None and job.job_id is not None and job.job_id != job_id
    if start is not None and job.start_time is not None:
        if job.start_time < start:
            return entry  # an older row than the run accounted for last (rows flapping between two runs)
        new = job.start_time > start or ids_differ
    else:
        new = ids_differ
    if new:
        return job.job_id, job.start_time, runs.counted(job.outcome)
    # The same run (what both sides know agrees): keep what is known, fill in what only the row knows.
    return (job.job_id if job_id is None else job_id), (job.start_time if start is None else start), runs
