"""The scan-profile group in the refresher: reloads, bad rows, last good data, and the cached exposition."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from avepoint_simulator import FleetSpec, Simulator
from exporter import config
from exporter.exposition.cache import ExpositionCache
from exporter.model import Outcome
from exporter.refresh import Refresher
from exporter.refresh.changes import Due, due
from tests.support.harness import Clock, make_config, make_refresher

NOW = 1_760_000_000.0


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=8, seed=1), clock=lambda: NOW) as simulator:
        yield simulator


@pytest.mark.parametrize(
    ("section", "values"), [("endpoints", {"scan_profiles": True}), ("scan_profiles", {"max_per_customer": 5})]
)
def test_the_group_and_its_bound_make_every_customer_due(section: str, values: dict[str, Any]) -> None:
    base: dict[str, Any] = {"auth": {"client_id": "a", "client_secret": "b"}}
    assert due(config.from_mapping(base), config.from_mapping({**base, section: values})) == Due(customers=True)


def test_a_reload_remaps_scan_outcomes_without_asking_again(sim: Simulator) -> None:
    cfg = make_config(sim, endpoints={"scan_profiles": True})
    refresher = make_refresher(cfg)
    snap = refresher.snapshot_within(wait=10)
    failing = [p for cs in snap.customers for p in cs.scan_profiles if p.status == "Failed"]
    assert failing and all(p.outcome is Outcome.FAILED for p in failing)
    sim.reset_counters()
    remapped = replace(cfg, jobs=replace(cfg.jobs, status_outcomes={"failed": Outcome.WARNING}))
    refresher.reconfigure(remapped)
    snap = refresher.snapshot_within(wait=10)
    refresher.close()
    assert sum(sim.requests.values()) == 0
    again = [p for cs in snap.customers for p in cs.scan_profiles if p.status == "Failed"]
    assert len(again) == len(failing) and all(p.outcome is Outcome.WARNING for p in again)


class ProfilesClient:
    """A client double for what the simulator never sends: profile rows without an id, or none usable."""

    def __init__(self) -> None:
        self.rows: list[Any] = [{"profileId": "p1", "profileName": "One"}, {"profileName": "no id"}, "junk"]
        self.summaries = 0

    def customers(self) -> list[Any]:
        return [{"id": "c1", "organization": "Org"}]

    def jobs(self, customer_id: str) -> list[Any]:
        return []

    def jobs_for(self, customer_id: str, job_type: str, job_module: str) -> list[Any]:
        raise AssertionError("not used")

    def protected(self, customer_id: str) -> list[Any]:
        raise AssertionError("not used")

    def services(self, customer_ids: list[str] | None = None) -> list[Any]:
        raise AssertionError("not used")

    def scan_profiles(self, customer_id: str) -> list[Any]:
        return self.rows

    def scan_profile_summary(self, customer_id: str, profile_id: str) -> dict[str, Any]:
        self.summaries += 1
        return {"profileId": profile_id, "lastScanStatus": 3, "newRegisteredContentCount": "lots"}

    def seats(self, customer_id: str, tenant_type: int) -> list[Any]:
        raise AssertionError("not used")


def test_bad_rows_are_counted_and_a_wholly_bad_answer_keeps_the_last_good_data() -> None:
    client = ProfilesClient()
    errors: list[str] = []
    clock = Clock()
    auth = {"client_id": "x", "client_secret": "y"}
    cfg = config.from_mapping({"auth": auth, "endpoints": {"scan_profiles": True}, "cache": {"ttl": "60s"}})
    refresher = Refresher(cfg, client, clock=clock, wall_clock=lambda: NOW, on_parse_error=errors.append)
    (state,) = refresher.snapshot_within(wait=10).customers
    (profile,) = state.scan_profiles
    assert (profile.profile_id, profile.name, profile.status, profile.new_objects) == ("p1", "One", "Failed", None)
    assert state.scan_profiles_attempt.success
    assert sorted(errors) == ["newRegisteredContentCount", "profileId", "scanProfile"]
    assert client.summaries == 1  # only the row with an id is asked about

    client.rows = [{"profileName": "no id"}]
    clock.now = 61
    (state,) = refresher.snapshot_within(wait=10).customers
    refresher.close()
    assert not state.scan_profiles_attempt.success
    assert "none of the 1 scan profile rows is usable" in str(state.scan_profiles_attempt.error)
    assert [p.profile_id for p in state.scan_profiles] == ["p1"]  # the last good data stays


def test_the_cached_exposition_follows_a_changed_profile(sim: Simulator) -> None:
    refresher = make_refresher(make_config(sim, endpoints={"scan_profiles": True}))
    snap = refresher.snapshot_within(wait=10)
    refresher.close()
    cache = ExpositionCache()
    before = cache.get(snap).body.decode()
    state = snap.customers[0]
    changed = replace(state.scan_profiles[0], new_objects=123456)
    later = replace(
        snap,
        generation=snap.generation + 1,
        customers=(replace(state, scan_profiles=(changed, *state.scan_profiles[1:])), *snap.customers[1:]),
    )
    after = cache.get(later).body.decode()
    line = f'avepoint_scan_profile_new_objects{{customer_id="{state.customer.id}",profile_id="{changed.profile_id}"}}'
    assert f"{line} 123456.0" in after and f"{line} 123456.0" not in before
