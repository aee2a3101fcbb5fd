"""The run memory (exporter/refresh/runs.py): what counts as a new finished run, alone and in the refresher."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from avepoint_simulator import FleetSpec, Simulator
from exporter.model import Customer, CustomerState, Job, Outcome, Runs, Snapshot
from exporter.refresh.runs import RunMemory
from tests.support.harness import NOW, Clock, make_config, make_refresher

KEY = ("Microsoft 365", "Exchange Online")
T0 = 1_760_000_000.0


def job(job_id: str | None, start: float | None, outcome: Outcome, *, never_ran: bool = False) -> Job:
    return Job(*KEY, job_id, None, outcome.value, outcome, start_time=start, never_ran=never_ran)


def counts(runs: Runs) -> dict[str, int]:
    return {name: n for name, n in runs._asdict().items() if name != "since" and n}


def test_a_run_seen_running_then_finished_counts_once_at_its_final_outcome() -> None:
    memory = RunMemory()
    memory.record("c", (job("a", T0, Outcome.SUCCESS),), T0)  # first sight: baseline
    assert counts(memory.record("c", (job("b", T0 + 10, Outcome.RUNNING),), T0)[KEY]) == {}
    assert counts(memory.record("c", (job("b", T0 + 10, Outcome.FAILED),), T0)[KEY]) == {"failed": 1}
    # Seen again, finished: nothing more, also if its row's status changes afterwards.
    assert counts(memory.record("c", (job("b", T0 + 10, Outcome.FAILED),), T0)[KEY]) == {"failed": 1}
    assert counts(memory.record("c", (job("b", T0 + 10, Outcome.SUCCESS),), T0)[KEY]) == {"failed": 1}


def test_first_sight_of_a_finished_run_is_the_baseline() -> None:
    memory = RunMemory()
    runs = memory.record("c", (job("a", T0, Outcome.SUCCESS),), T0 + 5)[KEY]
    assert runs == Runs(T0 + 5)  # every outcome at 0, counted since the first sight
    assert counts(memory.record("c", (job("a", T0, Outcome.SUCCESS),), T0 + 99)[KEY]) == {}
    assert memory.record("c", (job("a", T0, Outcome.SUCCESS),), T0 + 99)[KEY].since == T0 + 5


def test_first_sight_of_a_running_run_counts_it_when_it_finishes() -> None:
    """No earlier process can have counted a run that had not finished: counting it repeats nothing."""
    memory = RunMemory()
    assert counts(memory.record("c", (job("a", T0, Outcome.RUNNING),), T0)[KEY]) == {}
    assert counts(memory.record("c", (job("a", T0, Outcome.WARNING),), T0)[KEY]) == {"warning": 1}


def test_a_never_run_row_counts_nothing_and_exports_zeros() -> None:
    memory = RunMemory()
    never = job(None, None, Outcome.NOT_RUN, never_ran=True)
    assert memory.record("c", (never,), T0)[KEY] == Runs(T0)
    # A never-run row whose status a mapping calls finished still counts nothing.
    assert memory.record("c", (replace(never, outcome=Outcome.SUCCESS),), T0)[KEY] == Runs(T0)
    assert counts(memory.record("c", (job("a", T0, Outcome.SUCCESS),), T0)[KEY]) == {"success": 1}


@pytest.mark.parametrize(
    ("job_id", "start"), [("b", T0), ("a", T0 + 3600), ("b", T0 + 3600)], ids=["new id", "new start", "both"]
)
def test_a_new_job_id_or_start_time_is_a_new_run(job_id: str, start: float) -> None:
    memory = RunMemory()
    memory.record("c", (job("a", T0, Outcome.SUCCESS),), T0)
    assert counts(memory.record("c", (job(job_id, start, Outcome.CANCELED),), T0)[KEY]) == {"canceled": 1}


def test_every_finished_outcome_is_counted_and_not_run_is_not() -> None:
    memory = RunMemory()
    memory.record("c", (job("x", T0, Outcome.SUCCESS),), T0)
    outcomes = [Outcome.SUCCESS, Outcome.WARNING, Outcome.FAILED, Outcome.CANCELED, Outcome.UNKNOWN, Outcome.NOT_RUN]
    for n, outcome in enumerate(outcomes, start=1):
        runs = memory.record("c", (job(f"r{n}", T0 + n, outcome),), T0)[KEY]
    assert counts(runs) == {"success": 1, "warning": 1, "failed": 1, "canceled": 1, "unknown": 1}


def test_an_older_row_than_the_run_counted_last_is_not_a_new_run() -> None:
    memory = RunMemory()
    memory.record("c", (job("a", T0, Outcome.SUCCESS),), T0)
    memory.record("c", (job("b", T0 + 10, Outcome.SUCCESS),), T0)
    assert counts(memory.record("c", (job("a", T0, Outcome.SUCCESS),), T0)[KEY]) == {"success": 1}


def test_a_job_gone_and_back_keeps_its_counts() -> None:
    memory = RunMemory()
    memory.record("c", (job("a", T0, Outcome.SUCCESS),), T0)
    memory.record("c", (job("b", T0 + 1, Outcome.SUCCESS),), T0)
    assert memory.record("c", (), T0 + 10) == {}  # not listed: not exported
    back = memory.record("c", (job("c", T0 + 2, Outcome.FAILED),), T0 + 20)[KEY]
    assert counts(back) == {"success": 1, "failed": 1} and back.since == T0


def state(cid: str, runs: dict[tuple[str, str], Runs]) -> CustomerState:
    return CustomerState(Customer(cid, "", "", ""), runs=runs)


def test_prune_forgets_jobs_not_exported_for_the_retention_and_they_start_again() -> None:
    memory = RunMemory()
    memory.record("c", (job("a", T0, Outcome.SUCCESS),), T0)
    exported = memory.record("c", (job("b", T0 + 1, Outcome.SUCCESS),), T0)
    saved = memory.prune({"c": state("c", exported)}, retention=100, now=T0)
    assert saved == {("c", *KEY): ("b", T0 + 1, T0, T0)}
    assert memory.prune({"c": state("c", exported)}, retention=100, now=T0, saving=False) == {}  # no state file
    assert memory.prune({}, retention=100, now=T0 + 100) != {}  # not gone long enough yet
    assert memory.prune({}, retention=100, now=T0 + 101) == {}
    # Seen again after that: a first sight, a new baseline, the counter restarted (a reset Prometheus handles).
    assert memory.record("c", (job("b", T0 + 1, Outcome.SUCCESS),), T0 + 200)[KEY] == Runs(T0 + 200)


def test_saved_entries_are_the_memory_after_a_restart() -> None:
    saved = {("c", *KEY): ("b", T0 + 1, T0 - 50.0, T0)}
    memory = RunMemory(saved)
    assert memory.record("c", (job("b", T0 + 1, Outcome.SUCCESS),), T0 + 9)[KEY] == Runs(T0 - 50)
    assert counts(memory.record("c", (job("c", T0 + 2, Outcome.SUCCESS),), T0 + 9)[KEY]) == {"success": 1}


def test_a_saved_legacy_spelling_is_the_canonical_series() -> None:
    memory = RunMemory({("c", "Microsoft 365", "OneDrive for Business"): ("b", T0, T0 - 5, T0)})
    onedrive = Job("Microsoft 365", "OneDrive", "b", None, "Finished", Outcome.SUCCESS, start_time=T0)
    assert memory.record("c", (onedrive,), T0)[("Microsoft 365", "OneDrive")] == Runs(T0 - 5)


# The refresher, against the simulator as its upstream: counters through refreshes and reloads.


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=2, seed=7), clock=lambda: NOW) as simulator:
        yield simulator


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def runs_of(snap: Snapshot, cid: str, key: tuple[str, str]) -> dict[str, int]:
    (cs,) = [c for c in snap.customers if c.customer.id == cid]
    return counts(cs.runs[key])


def test_a_reload_that_remaps_statuses_leaves_counted_runs_alone(sim: Simulator) -> None:
    cid = sim.customer_ids[0]
    row = sim.jobs(cid)[0]
    key = (str(row["jobType"]), str(row["jobModule"]))
    clock = Clock()
    cfg = make_config(sim)
    refresher = make_refresher(cfg, clock)

    def step(job_id: str, start: float, status: str) -> dict[str, int]:
        sim.pin(cid, *key, jobId=job_id, startTime=iso(start), endTime=iso(start + 60), status=status)
        clock.now += 61
        return runs_of(refresher.snapshot_within(wait=10), cid, key)

    try:
        assert step("r1", NOW - 7200, "Finished") == {}  # first sight: baseline
        assert step("r2", NOW - 3600, "Completed With Issues") == {"unknown": 1}
        refresher.reconfigure(make_config(sim, jobs={"status_outcomes": {"completed with issues": "warning"}}))
        snap = refresher.snapshot()
        (cs,) = [c for c in snap.customers if c.customer.id == cid]
        assert {j.key: j.outcome for j in cs.jobs}[key] is Outcome.WARNING  # the jobs held are remapped
        assert counts(cs.runs[key]) == {"unknown": 1}  # the run counted is not
        assert step("r2", NOW - 3600, "Completed With Issues") == {"unknown": 1}
        assert step("r3", NOW - 1800, "Completed With Issues") == {"unknown": 1, "warning": 1}
    finally:
        refresher.close()


def test_counts_survive_a_customer_gone_from_the_listing_and_back(sim: Simulator) -> None:
    cid = sim.customer_ids[0]
    row = sim.jobs(cid)[0]
    key = (str(row["jobType"]), str(row["jobModule"]))
    clock = Clock()
    refresher = make_refresher(make_config(sim), clock)
    try:
        sim.pin(cid, *key, jobId="r1", startTime=iso(NOW - 7200), status="Finished")
        refresher.snapshot_within(wait=10)
        sim.pin(cid, *key, jobId="r2", startTime=iso(NOW - 3600), status="Failed")
        clock.now += 61
        assert runs_of(refresher.snapshot_within(wait=10), cid, key) == {"failed": 1}
        sim.remove_customer(cid)
        clock.now += 61
        assert cid not in {c.customer.id for c in refresher.snapshot_within(wait=10).customers}
        sim.restore_customer(cid)
        sim.pin(cid, *key, jobId="r3", startTime=iso(NOW - 1800), status="Finished")
        clock.now += 61
        assert runs_of(refresher.snapshot_within(wait=10), cid, key) == {"failed": 1, "success": 1}
    finally:
        refresher.close()


def test_a_failed_jobs_refresh_keeps_the_counts(sim: Simulator) -> None:
    clock = Clock()
    refresher = make_refresher(make_config(sim), clock)
    try:
        first = refresher.snapshot_within(wait=10)
        assert all(cs.runs and set(cs.runs) == {j.key for j in cs.jobs} for cs in first.customers)
        sim.faults.status_override = 500
        clock.now += 61
        second = refresher.snapshot_within(wait=10)
        assert [cs.runs for cs in second.customers] == [cs.runs for cs in first.customers]
    finally:
        sim.faults.status_override = None
        refresher.close()


@pytest.mark.parametrize(
    "rows",
    [
        # The start time flips between known and N/A (or unparseable) on one run.
        [("b", T0 + 200), ("b", None), ("b", T0 + 200), ("b", None), ("b", T0 + 200)],
        # The job id flips between known and N/A while the start is known.
        [("b", T0 + 200), (None, T0 + 200), ("b", T0 + 200), (None, T0 + 200), ("b", T0 + 200)],
    ],
)
def test_a_run_whose_id_or_start_comes_and_goes_counts_once(rows: list[tuple[str | None, float | None]]) -> None:
    memory = RunMemory()
    memory.record("c", (job("a", T0, Outcome.SUCCESS),), T0)  # the baseline
    for job_id, start in rows:
        seen = memory.record("c", (job(job_id, start, Outcome.SUCCESS),), T0 + 300)
    assert counts(seen[KEY]) == {"success": 1}
    # A later run is still a new run.
    assert counts(memory.record("c", (job("c", T0 + 400, Outcome.FAILED),), T0 + 500)[KEY]) == {
        "success": 1,
        "failed": 1,
    }
