"""Sharding: a stable split of the customers, and several exporter processes covering the fleet once."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from avepoint_simulator import FleetSpec, Simulator
from exporter import shard
from exporter.errors import ConfigError
from tests.support import free_port
from tests.support.harness import SCRIPT, stop, wait_for, write_config


def test_every_customer_has_exactly_one_owner_and_the_split_is_even() -> None:
    ids = [f"customer-{i}" for i in range(3000)]
    shards = [shard.Shard(i, 3) for i in range(3)]
    owners = Counter(sum(s.owns(cid) for s in shards) for cid in ids)
    assert owners == {1: 3000}
    sizes = [sum(s.owns(cid) for cid in ids) for s in shards]
    assert all(900 < n < 1100 for n in sizes), sizes


def test_the_hash_is_stable_across_processes() -> None:
    # Pinned values: a change here would move customers between replicas on upgrade.
    assert [shard.Shard(i, 4).owns("3f2504e0-4f89-11d3-9a0c-0305e82c3301") for i in range(4)].index(True) == 2
    code = "from exporter.shard import Shard; print([Shard(i, 5).owns('abc') for i in range(5)].index(True))"
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout for _ in range(3)}
    assert runs == {"4\n"}


@pytest.mark.parametrize(
    ("index", "count", "host", "expected"),
    [(None, 1, "anything", (0, 1)), (None, 3, "avepoint-exporter-2", (2, 3)), (1, 3, "x", (1, 3))],
)
def test_resolve(index: int | None, count: int, host: str, expected: tuple[int, int]) -> None:
    s = shard.resolve(index, count, host)
    assert (s.index, s.count) == expected


@pytest.mark.parametrize(
    ("index", "count", "host", "message"),
    [(None, 3, "laptop", "does not end in -<ordinal>"), (3, 3, "x", "between 0 and 2"), (0, 0, "x", "at least 1")],
)
def test_resolve_errors(index: int | None, count: int, host: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        shard.resolve(index, count, host)


def test_three_shards_cover_the_fleet_without_overlap(tmp_path: Path) -> None:
    with Simulator(FleetSpec(customers=30, seed=13)) as sim:
        cfg = write_config(tmp_path / "config.yml", sim)
        procs = []
        try:
            for i in range(3):
                port = free_port()
                args = [SCRIPT, "--config.file", str(cfg), "--web.listen-address", f"127.0.0.1:{port}"]
                args += ["--shard.count=3"] + ([f"--shard.index={i}"] if i < 2 else [])
                env = {"HOSTNAME": f"avepoint-backup-exporter-{i}", "PATH": "/usr/bin:/bin"}
                proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                procs.append((proc, port))
            owned: list[set[str]] = []
            for i, (proc, port) in enumerate(procs):
                wait_for(f"http://127.0.0.1:{port}/-/ready", proc)
                body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
                samples = [s for f in text_string_to_metric_families(body) for s in f.samples]
                info = [s.labels for s in samples if s.name == "avepoint_exporter_shard_info"]
                assert info == [{"index": str(i), "count": "3"}]
                owned.append({s.labels["customer_id"] for s in samples if s.name == "avepoint_customer_info"})
                jobs = {s.labels["customer_id"] for s in samples if s.name == "avepoint_backup_job_status"}
                assert jobs <= owned[-1]
            assert set().union(*owned) == set(sim.customer_ids)
            assert sum(map(len, owned)) == 30
            assert all(owned), "each shard owns some of 30 customers"
            # Each customer's jobs were fetched once across all shards.
            assert sim.requests[("/partner/customers/{id}/jobs", 200)] == 30
        finally:
            for proc, _ in procs:
                stop(proc)
