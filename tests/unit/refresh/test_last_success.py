"""The state file under attack: unreadable, partly malformed, temp files of killed saves, unbounded growth."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from avepoint_simulator import FleetSpec, Simulator
from exporter import config
from exporter.errors import ConfigError
from exporter.exposition.telemetry import Telemetry
from exporter.refresh import last_success
from exporter.runtime import Runtime
from exporter.shard import Shard
from tests.support import ROOT
from tests.support.harness import NOW, make_config, make_refresher

DAY = 86400.0


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=3, seed=7), clock=lambda: NOW) as simulator:
        yield simulator


def sample(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value(name)


def run_once(sim: Simulator, path: Path, **cfg: Any) -> tuple[CollectorRegistry, Any]:
    """One refresher's first cycle with telemetry; returns the registry and the snapshot."""
    registry = CollectorRegistry()
    telemetry = Telemetry(registry)
    refresher = make_refresher(
        make_config(sim, state_file=str(path), **cfg), on_state_file=telemetry.state_file, wall_clock=lambda: NOW
    )
    try:
        return registry, refresher.snapshot_within(wait=10)
    finally:
        refresher.close()


def entry(cid: str, job_type: str, module: str, ts: float, seen: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"customer_id": cid, "job_type": job_type, "job_module": module, "timestamp": ts}
    if seen is not None:
        out["seen"] = seen
    return out


def saved(path: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    data = json.loads(path.read_text())
    assert data["version"] == last_success.FORMAT_VERSION
    return {(e["customer_id"], e["job_type"], e["job_module"]): e for e in data["last_success"]}


# --- a file that cannot be read is never overwritten -------------------------------------------------------

GOOD_V1 = json.dumps({"version": 1, "last_success": [entry("c", "t", "m", 1.7e9)]})
UNREADABLE = {
    "truncated JSON": GOOD_V1[: len(GOOD_V1) // 2].encode(),
    "not UTF-8": b'{"version": 1, "last_success": [{"customer_id": "\xff\xfe"}]}',
    "a newer format version": json.dumps({"version": 4, "last_success": [], "more": {}}).encode(),
    "no version": b'{"last_success": []}',
    "last_success not a list": b'{"version": 2, "last_success": {"c": 1}}',
    "runs not a list": b'{"version": 3, "last_success": [], "runs": {"c": 1}}',
}


@pytest.mark.parametrize("content", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_a_state_file_that_cannot_be_read_is_left_untouched(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    registry, snap = run_once(sim, path)
    assert snap.up  # the exporter runs on, from memory
    assert path.read_bytes() == content  # not a byte changed ...
    assert sorted(os.listdir(tmp_path)) == ["state.json"]  # ... and no sibling written
    assert sample(registry, "avepoint_state_file_ok") == 0
    (line,) = [r for r in caplog.records if r.getMessage().startswith("state file cannot be read")]
    assert line.levelno == logging.ERROR and line.path == str(path)  # type: ignore[attr-defined]


def test_a_directory_at_the_state_path_is_reported_and_left_alone(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Tests run as root, for whom no file is unreadable: a directory is what open() refuses here.
    path = tmp_path / "state.json"
    path.mkdir()
    registry, snap = run_once(sim, path)
    assert snap.up and path.is_dir() and os.listdir(path) == []
    assert sorted(os.listdir(tmp_path)) == ["state.json"]
    assert sample(registry, "avepoint_state_file_ok") == 0
    (line,) = [r for r in caplog.records if r.getMessage().startswith("state file cannot be read")]
    assert line.error == "Is a directory"  # type: ignore[attr-defined]


def test_a_failed_save_shows_in_the_metric(sim: Simulator, tmp_path: Path) -> None:
    registry, snap = run_once(sim, tmp_path / "missing-dir" / "state.json")
    assert snap.up and sample(registry, "avepoint_state_file_ok") == 0


def test_the_runtime_exports_the_state_file_metrics(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(UNREADABLE["truncated JSON"])
    cfg = config.from_mapping({"auth": {"client_id": "app", "client_secret": "s"}, "state_file": str(path)})
    runtime = Runtime(cfg, Shard())
    try:
        assert sample(runtime.registry, "avepoint_state_file_ok") == 0
        assert sample(runtime.registry, "avepoint_state_file_skipped_entries") == 0
    finally:
        runtime.refresher.close()


# --- a malformed entry costs that entry only ---------------------------------------------------------------


def test_a_malformed_entry_is_skipped_and_the_rest_kept(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = [entry(f"gone-{i}", "Microsoft 365", "Exchange Online", 1.7e9 + i) for i in range(3)]
    bad = [
        {"customer_id": "x", "job_type": "t", "timestamp": 1.0},  # no job_module
        entry("x", "t", "m2", "yesterday"),  # type: ignore[arg-type]
        entry("x", "t", "m3", float("nan")),  # json writes NaN, which no time is
        42,
    ]
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 1, "last_success": [good[0], *bad, *good[1:]]}))
    registry, _ = run_once(sim, path)
    kept = saved(path)
    for e in good:
        assert kept[(e["customer_id"], e["job_type"], e["job_module"])]["timestamp"] == e["timestamp"]
    assert not any(cid == "x" for cid, _, _ in kept)
    assert sample(registry, "avepoint_state_file_skipped_entries") == 4
    assert sample(registry, "avepoint_state_file_ok") == 1
    (line,) = [r for r in caplog.records if "malformed entries" in r.getMessage()]
    assert line.skipped == 4 and line.kept == 3  # type: ignore[attr-defined]


# --- temp files of killed saves ------------------------------------------------------------------------------

# A save stopped where kill -9 hurts: the temp file written, not yet renamed over the state file.
KILLED_SAVE = """
import os, sys, time
from exporter.refresh import last_success
def stall(fd):
    print("written", flush=True)
    time.sleep(60)
os.fsync = stall
last_success.save(sys.argv[1], {("c%d" % i, "t", "m"): (1.7e9, 1.7e9) for i in range(20000)})
"""


def kill_while_saving(path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "written\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def test_temp_files_of_killed_saves_are_removed_at_start(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.json"
    for _ in range(4):
        kill_while_saving(path)
    leftovers = set(os.listdir(tmp_path))
    assert len(leftovers) == 4 and not path.exists()
    assert sum((tmp_path / name).stat().st_size for name in leftovers) > 4 * 1_000_000
    # Files that are not this state file's temp files, however alike, stay.
    others = {
        ".other.json.tmp-abcd1234",  # another state file's, in the same directory
        ".state.json.tmp-abcd1234.keep",
        ".state.json.tmp-abc",
        "state.json.tmp-abcd1234",
        ".state-abcd1234",  # an older version's name, not attributable to one state file
    }
    for name in others:
        (tmp_path / name).write_text("x")
    (tmp_path / ".state.json.tmp-dir12345").mkdir()
    others.add(".state.json.tmp-dir12345")
    caplog.set_level(logging.INFO)
    run_once(sim, path)
    assert set(os.listdir(tmp_path)) == others | {"state.json"}
    (removed,) = [r for r in caplog.records if r.getMessage().startswith("removed temp files")]
    assert removed.files == 4  # type: ignore[attr-defined]
    assert any(r.getMessage().startswith("files named .state-*") for r in caplog.records)


def test_temp_files_are_named_after_their_state_file(tmp_path: Path) -> None:
    assert last_success.temp_prefix(str(tmp_path / "shard-1.json")) == ".shard-1.json.tmp-"


# --- entries of jobs gone for good are forgotten -------------------------------------------------------------


def test_entries_of_jobs_gone_past_the_retention_are_pruned(sim: Simulator, tmp_path: Path) -> None:
    cid = sim.customer_ids[0]
    row = sim.jobs(cid)[0]
    live = (cid, str(row["jobType"]), str(row["jobModule"]))
    path = tmp_path / "state.json"
    path.write_text(
        json.dumps(
            {
                "version": 2,
                "last_success": [
                    entry(*live, 2.0e9, seen=NOW - 200 * DAY),  # exported again now: kept, seen now
                    entry("gone-long", "t", "m", 1.7e9, seen=NOW - 100 * DAY),  # past 90 days: forgotten
                    entry("gone-lately", "t", "m", 1.7e9, seen=NOW - 10 * DAY),  # within: kept as it was
                ],
            }
        )
    )
    _, snap = run_once(sim, path)
    assert snap.last_success[live] == 2.0e9
    kept = saved(path)
    assert ("gone-long", "t", "m") not in kept
    assert kept[("gone-lately", "t", "m")]["seen"] == NOW - 10 * DAY
    assert kept[live]["seen"] == NOW
    # A shorter retention forgets the other one too.
    run_once(sim, path, state_retention="7d")
    assert ("gone-lately", "t", "m") not in saved(path) and live in saved(path)


def test_version_1_is_read_and_written_as_the_current_version(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 1, "last_success": [entry("gone", "t", "m", 1.7e9)]}))
    run_once(sim, path)
    # Seen at the upgrade: a full state_retention from now before it is forgotten.
    assert saved(path)[("gone", "t", "m")] == entry("gone", "t", "m", 1.7e9, seen=NOW)


@pytest.mark.parametrize("value", ["0s", "soon", -1])
def test_state_retention_must_be_a_positive_duration(value: object) -> None:
    with pytest.raises(ConfigError, match="state_retention"):
        config.from_mapping({"auth": {"client_id": "app", "client_secret": "s"}, "state_retention": value})
