"""The refresher against the simulator: cache TTL, single flight, deadlines, isolation, state file."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from avepoint_simulator import FleetSpec, Simulator
from exporter import config
from exporter.model import Outcome, Snapshot
from exporter.refresh import Refresher
from exporter.upstream import Client
from tests.support.harness import NOW, Clock, make_config, make_refresher


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=6, seed=7), clock=lambda: NOW) as simulator:
        yield simulator


def data_requests(sim: Simulator) -> int:
    return sum(n for (route, _), n in sim.requests.items() if route != "/connect/token")


def jobs_of(snap: Snapshot, customer_id: str) -> dict[tuple[object, object], Any]:
    (state,) = [c for c in snap.customers if c.customer.id == customer_id]
    return {j.key: j for j in state.jobs}


def test_first_collect_fetches_everything_then_serves_from_cache(sim: Simulator) -> None:
    clock = Clock()
    refresher = make_refresher(make_config(sim), clock)
    snap = refresher.snapshot_within(wait=10)
    assert snap.up and snap.refreshed
    assert [c.customer.id for c in snap.customers] == sorted(sim.customer_ids)
    assert all(c.attempt.success and c.jobs for c in snap.customers)
    assert data_requests(sim) == 1 + 6
    clock.now = 59
    assert refresher.snapshot_within(wait=10).generation == snap.generation
    assert data_requests(sim) == 1 + 6
    clock.now = 61
    refresher.snapshot_within(wait=10)
    assert data_requests(sim) == 2 * (1 + 6)
    refresher.close()


def test_concurrent_scrapes_share_one_refresh(sim: Simulator) -> None:
    refresher = make_refresher(make_config(sim))
    sim.faults.latency = 0.2
    barrier = threading.Barrier(10)

    def scrape() -> None:
        barrier.wait()
        refresher.snapshot_within(wait=10)

    threads = [threading.Thread(target=scrape) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert data_requests(sim) == 1 + 6
    assert sim.requests[("/connect/token", 200)] == 1
    refresher.close()


def test_scrape_deadline_serves_last_good_data(sim: Simulator) -> None:
    clock = Clock()
    refresher = make_refresher(make_config(sim), clock)
    warm = refresher.snapshot_within(wait=10)
    clock.now = 120
    sim.faults.latency = 3.0
    started = time.monotonic()
    snap = refresher.snapshot_within(wait=0.3)
    assert time.monotonic() - started < 0.8
    assert [c.jobs for c in snap.customers] == [c.jobs for c in warm.customers]
    refresher.close()


def test_a_failing_customer_keeps_its_data_and_hides_nobody(sim: Simulator) -> None:
    clock = Clock()
    refresher = make_refresher(make_config(sim), clock)
    before = refresher.snapshot_within(wait=10)
    bad = sim.customer_ids[2]
    good = sim.customer_ids[3]
    sim.faults.failing_customers = {bad}
    cid_row = sim.jobs(good)[0]
    sim.pin(good, str(cid_row["jobType"]), str(cid_row["jobModule"]), status="Failed", failedCount="9")
    clock.now = 61
    after = refresher.snapshot_within(wait=10)
    states = {c.customer.id: c for c in after.customers}
    assert not states[bad].attempt.success
    assert "HTTP 500" in str(states[bad].attempt.error)
    assert states[bad].jobs == next(c for c in before.customers if c.customer.id == bad).jobs
    assert states[bad].attempt.last_success is not None
    assert all(s.attempt.success for cid, s in states.items() if cid != bad)
    pinned = jobs_of(after, good)[(cid_row["jobType"], cid_row["jobModule"])]
    assert pinned.outcome is Outcome.FAILED and pinned.failed_objects == 9
    refresher.close()


def test_listing_failure_sets_up_to_zero_and_keeps_customers(sim: Simulator) -> None:
    clock = Clock()
    refresher = make_refresher(make_config(sim), clock)
    refresher.snapshot_within(wait=10)
    sim.faults.status_override = 503
    clock.now = 61
    snap = refresher.snapshot_within(wait=10)
    assert not snap.up and not snap.listing.success
    assert len(snap.customers) == 6
    refresher.close()


def test_vanished_customer_stops_being_exported(sim: Simulator) -> None:
    clock = Clock()
    refresher = make_refresher(make_config(sim), clock)
    refresher.snapshot_within(wait=10)
    gone = sim.customer_ids[0]
    sim.remove_customer(gone)
    clock.now = 61
    snap = refresher.snapshot_within(wait=10)
    assert gone not in {c.customer.id for c in snap.customers}
    assert all(key[0] != gone for key in snap.last_success)
    refresher.close()


def test_include_and_exclude(sim: Simulator) -> None:
    ids = sim.customer_ids
    cfg = make_config(sim, customers={"include": ids[:3], "exclude": [ids[1]]})
    refresher = make_refresher(cfg)
    snap = refresher.snapshot_within(wait=10)
    assert {c.customer.id for c in snap.customers} == {ids[0], ids[2]}
    assert sim.requests[("/partner/customers/{id}/jobs", 200)] == 2
    refresher.close()


def test_selected_jobs_use_the_per_module_route(sim: Simulator) -> None:
    cfg = make_config(sim, jobs={"select": [{"job_type": "Microsoft 365", "job_module": "Exchange Online"}]})
    refresher = make_refresher(cfg)
    snap = refresher.snapshot_within(wait=10)
    route = "/partner/customers/{id}/jobs/jobType/{jobType}/jobModule/{jobModule}"
    assert sim.requests[(route, 200)] == 6
    assert sim.requests[("/partner/customers/{id}/jobs", 200)] == 0
    assert {j.key for c in snap.customers for j in c.jobs} <= {("Microsoft 365", "Exchange Online")}
    refresher.close()


def test_unparseable_values_are_left_out_and_counted(sim: Simulator) -> None:
    cid = sim.customer_ids[0]
    row = sim.jobs(cid)[0]
    sim.pin(cid, str(row["jobType"]), str(row["jobModule"]), backupSize="lots", totalCount="many")
    errors: list[str] = []
    refresher = make_refresher(make_config(sim), on_parse_error=errors.append)
    snap = refresher.snapshot_within(wait=10)
    job = jobs_of(snap, cid)[(row["jobType"], row["jobModule"])]
    assert job.size_bytes is None and job.objects is None
    assert sorted(errors) == ["backupSize", "totalCount"]
    refresher.close()


def test_status_outcome_overrides_apply(sim: Simulator) -> None:
    cid = sim.customer_ids[0]
    row = sim.jobs(cid)[0]
    sim.pin(cid, str(row["jobType"]), str(row["jobModule"]), status="Completed With Issues", jobId="j1")
    cfg = make_config(sim, jobs={"status_outcomes": {"completed with issues": "warning"}})
    refresher = make_refresher(cfg)
    job = jobs_of(refresher.snapshot_within(wait=10), cid)[(row["jobType"], row["jobModule"])]
    assert job.outcome is Outcome.WARNING
    refresher.close()


def test_last_success_survives_a_restart(sim: Simulator, tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    cfg = make_config(sim, state_file=str(state_file))
    first = make_refresher(cfg).snapshot_within(wait=10)
    assert first.last_success, "the simulated fleet has successful jobs"
    saved = json.loads(state_file.read_text())
    assert saved["version"] == 3 and len(saved["last_success"]) == len(first.last_success)
    # After a restart the remembered times come back as soon as the customers are listed again.
    sim.faults.status_override = 500  # and even if every job request fails
    second = make_refresher(cfg).snapshot_within(wait=10)
    assert second.up is False
    sim.faults.status_override = None
    third = make_refresher(cfg).snapshot_within(wait=10)
    assert third.last_success == first.last_success


def test_last_success_is_kept_when_the_next_job_fails(sim: Simulator) -> None:
    clock = Clock()
    refresher = make_refresher(make_config(sim), clock)
    snap = refresher.snapshot_within(wait=10)
    key = next(iter(snap.last_success))
    cid, job_type, module = key
    sim.pin(cid, job_type, module, status="Failed", endTime="2025-11-01T00:00:00Z", jobId="x")
    clock.now = 61
    assert refresher.snapshot_within(wait=10).last_success[key] == snap.last_success[key]


def test_corrupt_or_unwritable_state_file_is_survived(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text("{not json")
    refresher = make_refresher(make_config(sim, state_file=str(state_file)))
    assert refresher.snapshot_within(wait=10).up
    assert "state file cannot be read" in caplog.text
    assert state_file.read_text() == "{not json"  # left for a person to look at (test_last_success.py)
    unwritable = tmp_path / "missing-dir" / "state.json"
    refresher2 = make_refresher(make_config(sim, state_file=str(unwritable)))
    assert refresher2.snapshot_within(wait=10).up
    assert "cannot write state file" in caplog.text


class RowsClient:
    """A client double for one case the simulator never produces: duplicate and malformed rows."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def customers(self) -> list[Any]:
        return [{"id": "c1", "organization": "Org"}, "not an object", {"organization": "no id"}]

    def jobs(self, customer_id: str) -> list[Any]:
        return self.rows

    def jobs_for(self, customer_id: str, job_type: str, job_module: str) -> list[Any]:
        raise AssertionError("not used")

    def protected(self, customer_id: str) -> list[Any]:
        raise AssertionError("not used")

    def services(self, customer_ids: list[str] | None = None) -> list[Any]:
        raise AssertionError("not used")

    def scan_profiles(self, customer_id: str) -> list[Any]:
        raise AssertionError("not used")

    def scan_profile_summary(self, customer_id: str, profile_id: str) -> dict[str, Any]:
        raise AssertionError("not used")

    def seats(self, customer_id: str, tenant_type: int) -> list[Any]:
        raise AssertionError("not used")


def test_duplicate_rows_keep_the_newest_and_bad_rows_are_skipped() -> None:
    old = {"jobType": "T", "jobModule": "M", "status": "Failed", "jobId": "1", "lastModifyTime": "2025-01-01T00:00:00Z"}
    new = {**old, "status": "Finished", "jobId": "2", "lastModifyTime": "2025-01-02T00:00:00Z"}
    errors: list[str] = []
    refresher = Refresher(
        config.Config(auth=config.AuthConfig(client_id="x")), RowsClient([new, 42, old]), on_parse_error=errors.append
    )
    snap = refresher.snapshot_within(wait=10)
    assert [c.customer.id for c in snap.customers] == ["c1"]
    (job,) = snap.customers[0].jobs
    assert job.job_id == "2" and job.outcome is Outcome.SUCCESS
    assert sorted(errors) == ["customer", "id", "job"]
    refresher.close()


def test_an_answer_without_one_usable_row_is_a_failure_not_an_empty_fleet(sim: Simulator) -> None:
    clock = Clock()
    client = Client(make_config(sim).api, make_config(sim).auth, sleep=lambda s: None)
    refresher = Refresher(make_config(sim), client, clock=clock)
    before = refresher.snapshot_within(wait=10)
    garbage: list[Any] = [1, "a", None]
    client.customers = lambda *args: garbage  # type: ignore[method-assign]
    client.jobs = lambda customer_id: garbage  # type: ignore[method-assign]
    clock.now = 61
    after = refresher.snapshot_within(wait=10)
    assert not after.up and "none of the 3 customer rows is usable" in str(after.listing.error)
    assert [c.customer for c in after.customers] == [c.customer for c in before.customers]
    assert [c.jobs for c in after.customers] == [c.jobs for c in before.customers]
    assert all(not c.attempt.success and "job rows" in str(c.attempt.error) for c in after.customers)
    refresher.close()


def test_without_a_token_the_cycle_asks_the_identity_endpoint_once(sim: Simulator) -> None:
    clock = Clock()
    cfg = make_config(sim, api={"retries": 2})
    refresher = make_refresher(cfg, clock)
    refresher.snapshot_within(wait=10)
    sim.faults.token_status = 500
    sim.revoke_tokens()
    sim.reset_counters()
    clock.now = 61
    snap = refresher.snapshot_within(wait=10)
    # One logical token request (with its two retries) for the whole cycle, not one per customer.
    assert sim.requests[("/connect/token", 500)] == 3
    assert not snap.up
    assert all(not c.attempt.success and "HTTP 500" in str(c.attempt.error) for c in snap.customers)
    assert all(c.jobs for c in snap.customers)  # the last good data stays
    refresher.close()
