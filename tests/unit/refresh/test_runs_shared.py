"""Run counts share what repeats: the zero counts of jobs first seen together are one object."""

from __future__ import annotations

from dataclasses import replace

from exporter.model import Job, Outcome
from exporter.refresh.runs import RunMemory


def test_jobs_first_seen_together_share_one_run_count() -> None:
    """Most jobs of a fleet have counted no run yet: their counts are one object, until a run is counted."""
    jobs = tuple(
        Job("Microsoft 365", f"module {i}", f"id-{i}", None, "Finished", Outcome.SUCCESS, start_time=1.0)
        for i in range(20)
    )
    memory = RunMemory()
    first = memory.record("c", jobs, 100.0)
    assert len({id(runs) for runs in first.values()}) == 1
    later = memory.record("c", (replace(jobs[0], job_id="id-new", start_time=2.0, outcome=Outcome.FAILED),), 200.0)
    assert later[jobs[0].key].failed == 1 and first[jobs[1].key].failed == 0
