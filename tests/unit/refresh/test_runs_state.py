"""Run counts across restarts: the state file (format 3) keeps the run counted last per job, so a restart
neither loses nor repeats a run; without it a restart counts nothing again. Against the simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from avepoint_simulator import FleetSpec, Simulator
from exporter.model import Snapshot
from exporter.refresh import Refresher, last_success
from tests.support.harness import NOW, Clock, make_config, make_refresher
from tests.unit.refresh.test_last_success import run_once, sample
from tests.unit.refresh.test_runs import counts, iso

DAY = 86400.0


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=2, seed=7), clock=lambda: NOW) as simulator:
        yield simulator


class Exporter:
    """One exporter process's refresher (a restart is a new one), stepping its own clock past cache.ttl."""

    def __init__(self, sim: Simulator, state_file: str, wall: float) -> None:
        self.clock = Clock()
        self.refresher: Refresher = make_refresher(
            make_config(sim, state_file=state_file), self.clock, wall_clock=lambda: wall
        )

    def refresh(self) -> Snapshot:
        self.clock.now += 61
        return self.refresher.snapshot_within(wait=10)

    def __enter__(self) -> Exporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.refresher.close()


def module(sim: Simulator) -> tuple[str, tuple[str, str]]:
    cid = sim.customer_ids[0]
    row = sim.jobs(cid)[0]
    return cid, (str(row["jobType"]), str(row["jobModule"]))


def runs(snap: Snapshot, cid: str, key: tuple[str, str]) -> tuple[dict[str, int], float]:
    (cs,) = [c for c in snap.customers if c.customer.id == cid]
    return counts(cs.runs[key]), cs.runs[key].since


def test_a_restart_with_state_file_counts_the_run_of_the_downtime_once(sim: Simulator, tmp_path: Path) -> None:
    cid, key = module(sim)
    state = str(tmp_path / "state.json")
    sim.pin(cid, *key, jobId="r1", startTime=iso(NOW - 9000), status="Finished")
    with Exporter(sim, state, wall=NOW - 100) as first:
        assert runs(first.refresh(), cid, key) == ({}, NOW - 100)
        sim.pin(cid, *key, jobId="r2", startTime=iso(NOW - 6000), status="Finished")
        assert runs(first.refresh(), cid, key) == ({"success": 1}, NOW - 100)
    sim.pin(cid, *key, jobId="r3", startTime=iso(NOW - 3000), status="Failed")  # while the exporter is down
    with Exporter(sim, state, wall=NOW) as second:
        # Counted once after the restart (the count itself starts again at 0: a reset), still counted since then.
        assert runs(second.refresh(), cid, key) == ({"failed": 1}, NOW - 100)
        assert runs(second.refresh(), cid, key) == ({"failed": 1}, NOW - 100)
    with Exporter(sim, state, wall=NOW + 100) as third:
        assert runs(third.refresh(), cid, key) == ({}, NOW - 100)  # r3 again: not counted twice


def test_a_run_running_at_the_restart_is_counted_when_it_finishes(sim: Simulator, tmp_path: Path) -> None:
    cid, key = module(sim)
    state = str(tmp_path / "state.json")
    sim.pin(cid, *key, jobId="r1", startTime=iso(NOW - 9000), status="Finished")
    with Exporter(sim, state, wall=NOW) as first:
        first.refresh()
        sim.pin(cid, *key, jobId="r2", startTime=iso(NOW - 6000), status="Running")
        assert runs(first.refresh(), cid, key)[0] == {}
    sim.pin(cid, *key, jobId="r2", startTime=iso(NOW - 6000), status="Finished with exception")
    with Exporter(sim, state, wall=NOW) as second:
        assert runs(second.refresh(), cid, key)[0] == {"warning": 1}


def test_a_restart_without_state_file_counts_nothing_again(sim: Simulator) -> None:
    cid, key = module(sim)
    sim.pin(cid, *key, jobId="r1", startTime=iso(NOW - 9000), status="Finished")
    with Exporter(sim, "", wall=NOW - 100) as first:
        first.refresh()
        sim.pin(cid, *key, jobId="r2", startTime=iso(NOW - 6000), status="Failed")
        assert runs(first.refresh(), cid, key) == ({"failed": 1}, NOW - 100)
    for restart in range(3):  # a pod without a volume, restarted again and again
        with Exporter(sim, "", wall=NOW + restart) as again:
            assert runs(again.refresh(), cid, key) == ({}, NOW + restart)  # r2 is the new baseline
            assert runs(again.refresh(), cid, key) == ({}, NOW + restart)  # and stays uncounted


def run_entry(cid: str, job_type: str, module: str, **fields: Any) -> dict[str, Any]:
    base = {"customer_id": cid, "job_type": job_type, "job_module": module, "job_id": "r1", "start_time": 1.7e9}
    return {**base, "since": 1.6e9, "seen": NOW, **fields}


def test_a_malformed_run_entry_is_skipped_and_counted(sim: Simulator, tmp_path: Path) -> None:
    cid, key = module(sim)
    sim.pin(cid, *key, jobId="r1", startTime=iso(1.7e9), status="Finished")
    bad = [
        run_entry(cid, *key, job_id=7),
        run_entry(cid, *key, start_time="yesterday"),
        {k: v for k, v in run_entry(cid, *key).items() if k != "since"},
        run_entry(cid, key[0], ""),
        [],
    ]
    path = tmp_path / "state.json"
    good = run_entry(cid, *key, job_id="r0", start_time=1.6e9)
    path.write_text(json.dumps({"version": 3, "last_success": [], "runs": [*bad, good]}))
    registry, snap = run_once(sim, path)
    assert sample(registry, "avepoint_state_file_skipped_entries") == 5
    assert sample(registry, "avepoint_state_file_ok") == 1
    # The good entry is the memory: r1 is newer than r0, so it counts, since the saved time.
    assert runs(snap, cid, key) == ({"success": 1}, 1.6e9)


def saved_runs(path: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    data = json.loads(path.read_text())
    assert data["version"] == last_success.FORMAT_VERSION == 3
    return {(e["customer_id"], e["job_type"], e["job_module"]): e for e in data["runs"]}


def test_retention_prunes_run_entries_too(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(
        json.dumps(
            {
                "version": 3,
                "last_success": [],
                "runs": [
                    run_entry("gone-long", "t", "m", seen=NOW - 100 * DAY),
                    run_entry("gone-lately", "t", "m", seen=NOW - 10 * DAY, job_id=None, start_time=None),
                ],
            }
        )
    )
    run_once(sim, path)
    kept = saved_runs(path)
    assert ("gone-long", "t", "m") not in kept
    assert kept[("gone-lately", "t", "m")] == run_entry(
        "gone-lately", "t", "m", seen=NOW - 10 * DAY, job_id=None, start_time=None
    )
    # Every exported job is saved, seen now, with the run accounted for last and since when it is counted.
    live = {k: v for k, v in kept.items() if not k[0].startswith("gone")}
    assert live and all(e["seen"] == NOW and e["since"] == NOW for e in live.values())


def test_a_version_2_file_has_no_runs_and_is_written_as_version_3(sim: Simulator, tmp_path: Path) -> None:
    cid, key = module(sim)
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 2, "last_success": []}))
    _, snap = run_once(sim, path)
    assert runs(snap, cid, key) == ({}, NOW)  # first sight: the baseline
    assert (cid, *key) in saved_runs(path)
