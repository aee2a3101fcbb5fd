"""The status page built per changed customer (web/status/rows.py): the same view as a build from scratch at the
same time, after any sequence of changes, additions, removals, clock steps and config changes; one Row built per
changed customer; a staleness flip rebuilds just its row; nothing kept of customers gone."""

from __future__ import annotations

import gc
import json
import math
import random
import tracemalloc
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter import config
from exporter.model import (
    Attempt,
    Customer,
    CustomerState,
    Failure,
    Job,
    Outcome,
    ProtectedData,
    Runs,
    ScanProfile,
    Snapshot,
    Subscription,
    TenantSeats,
)
from exporter.web import status
from exporter.web.status import StatusCache, paging, rows, view
from exporter.web.status.rows import RowCache
from exporter.web.status.scan_profiles import SILENT_SECONDS
from exporter.web.status.view import STALE_FACTOR
from tests.support.views import CONFIG, HOUR, NOW, PROCESS
from tests.unit.web.test_status import customer, job, snapshot

DAY = 24 * HOUR
_BASE = replace(CONFIG, jobs=replace(CONFIG.jobs, expected_interval=HOUR))
# What a reload may bring: another interval, other endpoint groups (scan profiles; v3 with coverage and seats).
CONFIGS = (
    replace(_BASE, endpoints=replace(_BASE.endpoints, scan_profiles=True)),
    replace(_BASE, jobs=replace(_BASE.jobs, expected_interval=2 * HOUR)),
    replace(
        _BASE,
        api=replace(_BASE.api, version="v3"),
        endpoints=config.EndpointsConfig(jobs=True, protected=True, services=True, scan_profiles=True),
    ),
)
MODULES = (
    ("Microsoft 365", "Exchange Online"),
    ("Microsoft 365", "OneDrive"),
    ("Microsoft 365", "SharePoint Online"),
    ("Salesforce", "Salesforce"),
    ("Microsoft 365", "Archiver"),  # not a backup: shown, never a problem
)
# Organizations that sort together case-insensitively: the order falls to the ids.
ORGANIZATIONS = ("Contoso", "contoso", "Fabrikam", "Äpfel", "")


@st.composite
def states(draw: st.DrawFn, cid: str, now: float) -> CustomerState:
    """A customer as a refresh may leave it: jobs of any outcome, last successes around the stale line, scan
    profiles around the silent line, a failed group, coverage and seats."""
    picked = draw(st.lists(st.sampled_from(MODULES), max_size=3, unique=True))
    jobs, seen = [], {}
    for job_type, module in picked:
        outcome = draw(st.sampled_from(list(Outcome)))
        never = draw(st.booleans())
        jobs.append(
            Job(
                job_type,
                module,
                None if never else "job-1",
                "Backup",
                outcome.value.title(),
                Outcome.NOT_RUN if never else outcome,
                failed_objects=draw(st.sampled_from((None, 0, 3))),
                end_time=now - HOUR,
            )
        )
        if draw(st.booleans()):
            seen[(job_type, module)] = now - draw(st.floats(0, 4 * HOUR)) + draw(st.sampled_from((0.0, 60.0)))
    failure = Failure("HTTPStatusError", "403 <forbidden>", "rid-1")
    attempt = draw(st.sampled_from((Attempt(), Attempt(True, now - 30), Attempt(False, now - 900, failure))))
    profiles = tuple(
        ScanProfile(
            f"p{n}",
            f"Profile {n}",
            "Finished",
            draw(st.sampled_from((Outcome.SUCCESS, Outcome.FAILED))),
            last_update=draw(st.one_of(st.none(), st.floats(now - 3 * DAY, now + 60))),
        )
        for n in range(draw(st.integers(0, 2)))
    )
    seats = (TenantSeats("Microsoft 365", "t-1", "tenant", draw(st.integers(0, 100)), 10),)
    return CustomerState(
        Customer(cid, draw(st.sampled_from(ORGANIZATIONS)), "Germany", draw(st.sampled_from(("Working", "Trial")))),
        tuple(jobs),
        attempt,
        seen,
        protected=(ProtectedData("Microsoft 365", "Exchange Online", 10, draw(st.integers(0, 10))),),
        protected_attempt=Attempt(True, now - 30),
        seats=seats,
        seats_attempt=Attempt(True, now - 30),
        scan_profiles=profiles,
        scan_profiles_attempt=draw(
            st.sampled_from((Attempt(), Attempt(True, now - 60), Attempt(False, None, failure)))
        ),
    )


# What a refresh's attempts may be: all worked, all failed (keeping the last success), or only the jobs failed.
ATTEMPTS = ("worked", "failed", "jobs failed")


def _refreshed(cs: CustomerState, how: str, now: float) -> CustomerState:
    """`cs` after a refresh that brought no new data, as customer.applied leaves it: a new state and new Attempts
    (each group's `after`), every data object the same."""
    error = Failure("HTTPStatusError", "503 <unavailable>", "rid-2")
    every = None if how == "worked" else error
    return replace(
        cs,
        attempt=cs.attempt.after(None if how == "worked" else error, now),
        protected_attempt=cs.protected_attempt.after(every if how == "failed" else None, now),
        scan_profiles_attempt=cs.scan_profiles_attempt.after(every if how == "failed" else None, now),
        seats_attempt=(cs.seats_attempt or Attempt()).after(every if how == "failed" else None, now),
    )


def _flips(snap: Snapshot) -> list[float]:
    """The times at which some cell turns stale or some scan profile silent, as view.py computes them."""
    out = []
    for cs in snap.customers:
        for job_ in cs.jobs:
            last = cs.last_success.get(job_.key)
            if last is not None:
                expected = snap.config.jobs.expected_interval_for(cs.customer.id, job_.job_type, job_.job_module)
                out.append(last + STALE_FACTOR * expected)
        out.extend(p.last_update + SILENT_SECONDS for p in cs.scan_profiles if p.last_update is not None)
    return out


def _assert_same(cache: RowCache, snap: Snapshot, now: float) -> None:
    kept = cache.build(snap, PROCESS, now)
    fresh = view.build(snap, PROCESS, now)
    assert kept == fresh  # row for row: cells, staleness, health, reasons, order; header and columns
    assert cache.haystacks == tuple(paging.haystack(r) for r in fresh.rows)
    assert len(cache) == len(snap.customers)  # one Row kept per current customer, none for those gone


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_kept_view_is_the_view_from_scratch_after_any_changes(data: st.DataObject) -> None:
    now = NOW
    cfg = data.draw(st.sampled_from(CONFIGS))
    held = {f"c{n}": data.draw(states(f"c{n}", now)) for n in range(data.draw(st.integers(0, 6)))}
    cache, generation, added = RowCache(), 1, 100

    def snap() -> Snapshot:
        # As the refresher publishes them: the customers sorted by id, a new generation per change.
        return snapshot(*(held[cid] for cid in sorted(held)), generation=generation, cfg=cfg)

    _assert_same(cache, snap(), now)
    for _ in range(data.draw(st.integers(1, 25))):
        op = data.draw(
            st.sampled_from(
                ("change", "change one", "refresh", "nothing new", "add", "remove", "clock", "flip", "config", "same")
            )
        )
        if op == "change" and held:
            cid = data.draw(st.sampled_from(sorted(held)))
            held[cid] = data.draw(states(cid, now))
        elif op == "change one" and held:  # one of the data a Body follows from, or the names; the rest the same
            cid = data.draw(st.sampled_from(sorted(held)))
            field = data.draw(st.sampled_from((*view.BODY_FIELDS, "customer")))
            held[cid] = replace(held[cid], **{field: getattr(data.draw(states(cid, now)), field)})
        elif op == "refresh" and held:  # a new object, nothing else different: as customer.applied leaves it
            cid = data.draw(st.sampled_from(sorted(held)))
            held[cid] = replace(held[cid], attempt=Attempt(True, now))
        elif op == "nothing new" and held:  # one customer or all refreshed, only new attempts: as applied leaves it
            picked = sorted(held) if data.draw(st.booleans()) else [data.draw(st.sampled_from(sorted(held)))]
            for cid in picked:
                held[cid] = _refreshed(held[cid], data.draw(st.sampled_from(ATTEMPTS)), now)
        elif op == "add":
            added += 1
            held[f"c{added}"] = data.draw(states(f"c{added}", now))
        elif op == "remove" and held:
            del held[data.draw(st.sampled_from(sorted(held)))]
        elif op == "clock":  # forwards mostly; a wall clock may also step back
            now += data.draw(st.sampled_from((1.0, 600.0, HOUR, 2 * DAY, -HOUR, -0.001)))
        elif op == "flip" and _flips(snap()):
            # To a flip time exactly, or an ulp or a microsecond either side of it: where rounding bites.
            at = data.draw(st.sampled_from(_flips(snap())))
            nudge = data.draw(st.sampled_from((0, 1, -1, 2)))
            now = math.nextafter(at, math.inf if nudge > 0 else -math.inf) if nudge in (1, -1) else at
            now += 1e-6 if nudge == 2 else 0.0
        elif op == "config":
            cfg = data.draw(st.sampled_from(CONFIGS))
            cfg = replace(cfg)  # a reload: a new object, whether or not equal to the one before
        generation += 1
        _assert_same(cache, snap(), now)


def _fleet(n: int) -> dict[str, CustomerState]:
    # Last successes an hour ago, at an expected interval of an hour: each turns stale at 1.5 hours.
    seen = {job().key: NOW - HOUR, job("OneDrive").key: NOW - HOUR}
    return {
        f"c{i:03}": customer(f"c{i:03}", f"Org {i:03}", job(), job("OneDrive"), last_success=seen) for i in range(n)
    }


def _counting() -> tuple[RowCache, list[str]]:
    built: list[str] = []

    def build_body(cs: CustomerState, snap: Snapshot, now: float) -> view.Body:
        built.append(cs.customer.id)
        return view.body(cs, snap, now)

    return RowCache(build_body), built


def test_one_changed_customer_of_many_builds_one_row() -> None:
    held = _fleet(50)
    cache, built = _counting()
    cache.build(snapshot(*held.values(), cfg=_BASE), PROCESS, NOW)
    assert len(built) == 50 and (cache.built, cache.reused) == (50, 0)
    built.clear()
    held["c017"] = replace(held["c017"], jobs=(job(outcome=Outcome.FAILED), job("OneDrive")))
    snap = snapshot(*held.values(), generation=2, cfg=_BASE)
    kept = cache.build(snap, PROCESS, NOW + 60)
    assert built == ["c017"] and (cache.built, cache.reused) == (1, 49)
    assert kept == view.build(snap, PROCESS, NOW + 60) and kept.rows[0].customer_id == "c017"  # failed: first
    built.clear()
    cache.build(replace(snap, generation=3), PROCESS, NOW + 120)  # a new generation, no customer changed
    assert built == []


def test_a_refresh_of_every_customer_that_brought_nothing_new_builds_no_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 17: each refresh gives a customer a new state (new Attempts) with the same data objects; the page,
    # opened a TTL later, must not build every row's cells again, and must show the new attempts.
    cells: list[str] = []
    cell = view._cell

    def counting_cell(customer_id: str, *args: Any) -> view.Cell:
        cells.append(customer_id)
        return cell(customer_id, *args)

    monkeypatch.setattr(view, "_cell", counting_cell)
    held = _fleet(500)
    cache = RowCache()
    cache.build(snapshot(*held.values(), cfg=_BASE), PROCESS, NOW)
    assert len(cells) == 1000  # two cells each
    for n, cid in enumerate(held):
        held[cid] = _refreshed(held[cid], "jobs failed" if n % 100 == 7 else "worked", NOW + 60)
    snap = snapshot(*held.values(), generation=2, cfg=_BASE)
    cells.clear()
    page = cache.build(snap, PROCESS, NOW + 60)
    assert cells == [] and (cache.built, cache.reused) == (0, 500)
    monkeypatch.setattr(view, "_cell", cell)
    assert page == view.build(snap, PROCESS, NOW + 60)  # the new attempts shown: five failed refreshes first
    assert [r.customer_id for r in page.rows[:5]] == ["c007", "c107", "c207", "c307", "c407"]
    assert page.rows[0].health == status.WARNING and page.rows[0].reasons == ("jobs refresh failed",)
    assert cache.haystacks == tuple(paging.haystack(r) for r in page.rows)


def _every_field(*jobs: Job) -> CustomerState:
    """One customer with something in every field a row shows (jobs, last success, coverage, seats, a scan profile)."""
    return CustomerState(
        Customer("c1", "Org", "Germany", "Working"),
        jobs,
        Attempt(True, NOW - 30),
        {job().key: NOW - HOUR},
        protected=(ProtectedData("Microsoft 365", "Exchange Online", 10, 9),),
        seats=(TenantSeats("Microsoft 365", "t-1", "tenant", 5, 10),),
        seats_attempt=Attempt(True, NOW - 30),
        scan_profiles=(ScanProfile("p1", "Profile", "Finished", Outcome.SUCCESS, last_update=NOW - HOUR),),
    )


@pytest.mark.parametrize("field", view.BODY_FIELDS)
def test_new_data_in_any_field_the_cells_follow_from_builds_them_again(field: str) -> None:
    # A refresh that brought new data of one kind replaces just that object (customer.applied): the kept Body
    # must not outlive it. Both states are of the v3 config, where every field is shown.
    cfg = CONFIGS[2]
    one = _every_field(job(), job("OneDrive"))
    other = replace(
        one,
        jobs=(job(outcome=Outcome.FAILED), job("OneDrive")),
        last_success={job().key: NOW - 2 * HOUR},
        protected=(ProtectedData("Microsoft 365", "Exchange Online", 10, 4),),
        seats=(TenantSeats("Microsoft 365", "t-1", "tenant", 9, 1),),
        scan_profiles=(ScanProfile("p1", "Profile", "Finished", Outcome.FAILED, last_update=NOW - HOUR),),
    )
    cache, built = _counting()
    cache.build(snapshot(one, cfg=cfg), PROCESS, NOW)
    changed = replace(one, attempt=Attempt(True, NOW), **{field: getattr(other, field)})
    snap = snapshot(changed, generation=2, cfg=cfg)
    assert cache.build(snap, PROCESS, NOW + 1) == view.build(snap, PROCESS, NOW + 1)
    assert built == ["c1", "c1"] and cache.built == 1
    # And what the row shows did change with the field: the new data, not the kept body.
    (new,) = cache.build(snap, PROCESS, NOW + 1).rows
    (old,) = view.build(snapshot(one, cfg=cfg), PROCESS, NOW + 1).rows
    assert (new.cells, new.scan_profiles, new.coverage, new.seats) != (
        old.cells,
        old.scan_profiles,
        old.coverage,
        old.seats,
    )


def test_a_staleness_flip_rebuilds_only_that_row() -> None:
    held = _fleet(20)
    # One customer's OneDrive succeeded 20 minutes before the rest: it alone turns stale at first.
    early = held["c005"]
    held["c005"] = replace(early, last_success={**early.last_success, job("OneDrive").key: NOW - 80 * 60})
    snap = snapshot(*held.values(), cfg=_BASE)
    cache, built = _counting()
    cache.build(snap, PROCESS, NOW)
    flip = NOW - 80 * 60 + STALE_FACTOR * HOUR  # 1.5 expected intervals after its last success
    built.clear()
    before = cache.build(replace(snap, generation=2), PROCESS, flip - 1)
    assert built == [] and before.rows[-1].health == status.OK
    later = replace(snap, generation=3)
    after = cache.build(later, PROCESS, flip + 1)
    assert built == ["c005"]
    assert after == view.build(later, PROCESS, flip + 1)
    assert after.rows[0].customer_id == "c005" and "1 stale" in after.rows[0].reasons
    built.clear()
    cache.build(replace(snap, generation=4), PROCESS, flip + 2)  # stale it stays: kept again
    assert built == []


def test_a_reload_builds_every_row_again() -> None:
    held = _fleet(10)
    cache, built = _counting()
    cache.build(snapshot(*held.values(), cfg=_BASE), PROCESS, NOW)
    built.clear()
    longer = replace(_BASE, jobs=replace(_BASE.jobs, expected_interval=DAY))
    snap = snapshot(*held.values(), generation=2, cfg=longer)
    assert cache.build(snap, PROCESS, NOW) == view.build(snap, PROCESS, NOW)
    assert len(built) == 10


def test_customers_gone_are_forgotten() -> None:
    held = _fleet(30)
    cache = RowCache()
    cache.build(snapshot(*held.values(), cfg=_BASE), PROCESS, NOW)
    assert len(cache) == 30
    for cid in list(held)[:25]:
        del held[cid]
    snap = snapshot(*held.values(), generation=2, cfg=_BASE)
    assert cache.build(snap, PROCESS, NOW) == view.build(snap, PROCESS, NOW)
    assert len(cache) == 5 and cache.reused == 5


def test_a_snapshot_repeating_an_id_is_still_shown_as_it_is() -> None:
    # No refresher makes one (it holds customers by id); a hand-made one must still get the view from scratch.
    one = customer("c1", "Org", job())
    two = customer("c1", "Org", job(outcome=Outcome.FAILED))
    cache = RowCache()
    for n, states_ in enumerate(((one, two), (one, two), (one,)), start=1):
        snap = snapshot(*states_, generation=n)
        assert cache.build(snap, PROCESS, NOW) == view.build(snap, PROCESS, NOW)


def test_the_status_cache_serves_the_kept_rows_and_their_haystacks() -> None:
    held = _fleet(5)
    clock = [NOW]
    pages = StatusCache(PROCESS, wall_clock=lambda: clock[0])
    pages.get(snapshot(*held.values(), cfg=_BASE))
    held["c002"] = replace(held["c002"], customer=replace(held["c002"].customer, organization="Renamed"))
    snap = snapshot(*held.values(), generation=2, cfg=_BASE)
    clock[0] = NOW + 5
    page = pages.get(snap)
    assert (pages.rows.built, pages.rows.finished) == (0, 1)  # a new name: the row finished again, its cells kept
    fresh = status.Page(view.build(snap, PROCESS, NOW + 5))
    assert page.html() == fresh.html() and page.html(paging.Query("renamed")) == fresh.html(paging.Query("renamed"))
    assert page.json() == fresh.json()
    assert json.loads(page.json())["customers"][0]["data_age_seconds"] == 35  # as of the page's time, NOW + 5


def test_a_kept_row_holds_up_to_the_edges_of_its_window() -> None:
    # Where `last + allowed` cancels (a last success far before the epoch, a long interval), its rounding
    # differs from view's `now - last > allowed` by an ulp or more: the window's margin must cover that.
    rng = random.Random(7)
    checked = 0
    for _ in range(1500):
        last = rng.choice((1.0, -1.0)) * 10 ** rng.uniform(-3, 12)
        expected = 10 ** rng.uniform(-3, 10)
        cfg = replace(_BASE, jobs=replace(_BASE.jobs, expected_interval=expected))
        cs = customer("c1", "Org", job(), last_success={job().key: last})
        snap = snapshot(cs, cfg=cfg)
        for at in (last + STALE_FACTOR * expected - 1.0, last + STALE_FACTOR * expected + 1.0):
            kept = view.row(cs, snap, at)
            after, until = rows.window(kept)
            for edge in (math.nextafter(after, math.inf), math.nextafter(until, -math.inf)):
                if math.isfinite(edge):
                    assert view.row(cs, snap, edge) == kept, (last, expected, at, edge)
                    checked += 1
    assert checked > 2000


def test_memory_stays_one_row_per_current_customer_across_generations() -> None:
    # Customers changed, gone and new in every generation: what the page keeps must not grow with the history.
    gc.collect()
    tracemalloc.start()  # before the fleet is made: what is freed later must have been counted
    try:
        held = _fleet(200)
        clock = [NOW]
        pages = StatusCache(PROCESS, wall_clock=lambda: clock[0])
        added = 1000
        seen = {job().key: NOW - HOUR, job("OneDrive").key: NOW - HOUR}  # shared, as in _fleet: its size stays

        def generation(n: int) -> int:
            nonlocal added
            for cid in sorted(held)[n % 7 :: 10]:  # some 20 customers refreshed
                held[cid] = replace(held[cid], attempt=Attempt(True, clock[0]))
            for cid in sorted(held)[:5]:  # 5 gone, 5 new
                del held[cid]
                added += 1
                held[f"n{added}"] = customer(f"n{added}", f"Org {added}", job(), job("OneDrive"), last_success=seen)
            clock[0] += 1.0
            pages.get(snapshot(*(held[c] for c in sorted(held)), generation=n, cfg=_BASE)).html()
            gc.collect()
            return tracemalloc.get_traced_memory()[0]

        first = generation(1) and max(generation(n) for n in range(2, 6))
        last = max(generation(n) for n in range(6, 21))
    finally:
        tracemalloc.stop()
    assert len(pages.rows) == len(held) == 200
    # 15 generations of 25 new rows each would be some 375 rows (a few KB each, over 1 MB) more if any were kept.
    assert last - first < 100 * 1024, (first, last)


def test_a_body_follows_from_its_fields_the_id_and_the_config_alone() -> None:
    """Every CustomerState field outside view.BODY_FIELDS changed (the customer's names and status kept only by
    id): the body is the same. A body that started to read another field (the run counts, an attempt, the
    subscriptions) would be kept by rows.py when it should not, and fails this."""
    cfg = CONFIGS[2]  # v3, every column shown
    one = _every_field(job(), job("OneDrive", outcome=Outcome.FAILED))
    failed = Attempt(False, NOW - 3 * HOUR, Failure("HTTPStatusError", "503"))
    other = replace(
        one,
        customer=Customer("c1", "Other name", "France", "Expired"),
        attempt=failed,
        protected_attempt=failed,
        seats_attempt=failed,
        scan_profiles_attempt=failed,
        subscriptions=(Subscription("c1", "Microsoft 365"),),
        runs={job().key: Runs(NOW - HOUR, success=3, failed=1)},
    )
    assert all(getattr(other, f) is getattr(one, f) for f in view.BODY_FIELDS)
    snap = snapshot(one, cfg=cfg)
    assert view.body(other, snap, NOW) == view.body(one, snap, NOW)
    # What the row finishes from those fields does differ: the test is not vacuous.
    assert view.row(other, snap, NOW) != view.row(one, snap, NOW)
