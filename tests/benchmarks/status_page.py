"""The status page at fleet scale: its one-time build per data change, serving it, and Chromium opening it.

    .venv/bin/python -m tests.benchmarks.status_page                  # 1,000 customers
    .venv/bin/python -m tests.benchmarks.status_page --customers 5000
    .venv/bin/python -m tests.benchmarks.status_page --browser 500 5000   # in headless Chromium, before/after

The fleet is the simulator's, fetched in-process (its rows, no HTTP) by a real Refresher, so the snapshot is
what the exporter holds. Measured: the build of the page for a new snapshot generation (view, HTML, JSON,
gzip), then requests for the cached page: App.landing() (the exporter's own time per request) and a
GET over loopback through the real HTTP server (that plus sending the bytes).

After a change, before (every row built) and after the rows were kept between builds (web/status/rows.py):
the build of the view and of the page (view, HTML of the default view, gzip) in process, (a) after
`--changed 5` customers got new data and (b) after every customer was refreshed with nothing new, a cache.ttl
later; with `--browser`, Chromium's open of the page after (a).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import requests
from prometheus_client import CollectorRegistry

from avepoint_simulator import FleetSpec, Simulator
from exporter import config
from exporter.exposition.telemetry import Telemetry
from exporter.model import Attempt, Snapshot
from exporter.refresh import Refresher
from exporter.web import App, Server, serve_in_thread
from exporter.web.status import Process, StatusCache, cache, paging, view
from exporter.web.status.rows import RowCache
from exporter.web.status.view import Status


class SimulatorRows:
    """The API client the refresher calls, answering from the simulator's fleet without HTTP."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def customers(self) -> list[Any]:
        return list(self.sim.customers)

    def jobs(self, customer_id: str) -> list[Any]:
        return self.sim.jobs(customer_id)

    def jobs_for(self, customer_id: str, job_type: str, job_module: str) -> list[Any]:
        return [r for r in self.sim.jobs(customer_id) if (r["jobType"], r["jobModule"]) == (job_type, job_module)]

    def protected(self, customer_id: str) -> list[Any]:
        return self.sim.protected(customer_id)

    def services(self, customer_ids: list[str] | None = None) -> list[Any]:
        return self.sim.services()

    def scan_profiles(self, customer_id: str) -> list[Any]:
        return []

    def scan_profile_summary(self, customer_id: str, profile_id: str) -> dict[str, Any]:
        return {}

    def seats(self, customer_id: str, tenant_type: int) -> list[Any]:
        return self.sim.seats(customer_id, tenant_type)


@dataclass
class Result:
    customers: int
    jobs: int
    build_seconds: float  # view + HTML: what the first request for `/` after a data change pays
    gzip_seconds: float  # compressing the page, once per generation, when a client asks for gzip
    json_seconds: float  # /status.json, once per generation, when asked for
    serve_seconds: list[float]  # App.landing() on the cached page
    http_seconds: list[float]  # GET / over loopback, body read
    page_bytes: int
    builds: int  # builds during all the serving: 0 means every request was served from the cache

    def report(self) -> str:
        def ms(values: list[float]) -> str:
            return f"median {statistics.median(values) * 1000:.2f} ms, max {max(values) * 1000:.2f} ms"

        return (
            f"status page, {self.customers} customers, {self.jobs} jobs, {self.page_bytes / 1e6:.2f} MB of HTML\n"
            f"  build once per data change:        {self.build_seconds * 1000:.1f} ms (view and HTML), "
            f"+{self.gzip_seconds * 1000:.1f} ms gzip, +{self.json_seconds * 1000:.1f} ms JSON\n"
            f"  cached serve (App.landing):        {ms(self.serve_seconds)}\n"
            f"  cached serve (GET / on loopback):  {ms(self.http_seconds)}\n"
            f"  builds while serving:              {self.builds}"
        )


def measure(customers: int = 1000, requests_count: int = 30, seed: int = 1) -> Result:
    sim = Simulator(FleetSpec(customers=customers, seed=seed))
    cfg = config.from_mapping({"auth": {"client_id": "bench", "client_secret": "bench"}, "cache": {"ttl": "1h"}})
    # Not spread: customers refreshed one by one in their slots would make new generations while measuring.
    refresher = Refresher(cfg, SimulatorRows(sim), spread=False)
    registry = CollectorRegistry()
    app = App(lambda: refresher, registry, Telemetry(registry))
    try:
        cycle = refresher.trigger()
        assert cycle is not None
        cycle.result()
        snap = refresher.snapshot()
        started = time.perf_counter()
        page = app.status.get(snap)
        page.html_parts(time.time(), gzip=False)
        build = time.perf_counter() - started
        page.html_parts(time.time(), gzip=True)
        packed = time.perf_counter() - started - build
        started = time.perf_counter()
        page.json()
        as_json = time.perf_counter() - started
        builds = app.status.builds
        serve = []
        for _ in range(requests_count):
            started = time.perf_counter()
            response = app.landing()
            serve.append(time.perf_counter() - started)
        server = Server(("127.0.0.1", 0), app)
        serve_in_thread(server)
        http = []
        try:
            with requests.Session() as session:
                for _ in range(requests_count):
                    started = time.perf_counter()
                    got = session.get(server.url + "/", headers={"Accept-Encoding": "identity"}, timeout=10)
                    got.content  # noqa: B018 - the body is part of the request
                    http.append(time.perf_counter() - started)
                    assert got.status_code == 200
        finally:
            server.shutdown()
            server.server_close()
        return Result(
            customers=len(snap.customers),
            jobs=sum(len(c.jobs) for c in snap.customers),
            build_seconds=build,
            gzip_seconds=packed,
            json_seconds=as_json,
            serve_seconds=serve,
            http_seconds=http,
            page_bytes=response.length,
            builds=app.status.builds - builds,
        )
    finally:
        refresher.close()


@dataclass
class Browser:
    customers: int
    paged: bool
    page_bytes: int
    first: dict[str, float]  # the first open of a new generation: the server builds the page meanwhile
    warm: list[dict[str, float]]  # later opens, the page cached
    filter_ms: float  # typing a customer id until its row alone is shown, and painted
    problems_ms: float  # clicking "problems only" until the rows are there, and painted

    def report(self) -> str:
        def ms(key: str) -> str:
            values = [t[key] for t in self.warm]
            return f"{self.first[key]:>7.0f} {statistics.median(values):>7.0f}"

        return (
            f"{self.customers:>9} {'after (paged)' if self.paged else 'before (all rows)':<18}"
            f"{self.page_bytes / 1e6:>6.2f} MB {ms('response')} {ms('paint')} {ms('load')}"
            f" {self.filter_ms:>8.0f} {self.problems_ms:>9.0f}"
        )


BROWSER_HEADER = (
    f"{'customers':>9} {'page':<18}{'size':>9} {'response first/warm':>15} {'first paint':>15} {'load event':>15}"
    f" {'filter':>8} {'problems':>9}   (ms; first: a new generation, warm: cached, median of the rest)"
)

# Records when the rows shown change to satisfy `cond`, at the next frame after (what the person sees).
WATCH = """
window.__done = 0;
new MutationObserver(function () {
  if (!window.__done && (%s)) requestAnimationFrame(function () { window.__done = performance.now(); });
}).observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
window.__t0 = performance.now();
"""


# Problems only is on and no row without a problem is visible.
PROBLEMS_SHOWN = (
    "location.search === '?problems=1' && !document.querySelector('#fleet tbody tr[data-problem=\"0\"]:not([hidden])')"
)


def browser(customers: int, paged: bool, opens: int = 4, seed: int = 1) -> Browser:
    """Chromium opens the page, filters it and toggles problems only; `paged=False` is the page before paging."""
    from tests.support.devtools import DevTools  # the benchmark's only use of the test support

    sim = Simulator(FleetSpec(customers=customers, seed=seed))
    cfg = config.from_mapping({"auth": {"client_id": "bench", "client_secret": "bench"}, "cache": {"ttl": "1h"}})
    refresher = Refresher(cfg, SimulatorRows(sim), spread=False)
    registry = CollectorRegistry()
    app = App(lambda: refresher, registry, Telemetry(registry))
    kept = paging.PAGE_SIZE
    # Before: every customer on one page, filtered in place by the script, as the page was before paging.
    paging.PAGE_SIZE = kept if paged else 10**9
    server = Server(("127.0.0.1", 0), app)
    serve_in_thread(server)
    with tempfile.TemporaryDirectory() as profile:
        devtools = DevTools(Path(profile))
        try:
            cycle = refresher.trigger()
            assert cycle is not None
            cycle.result()
            snap = refresher.snapshot()
            target = snap.customers[-1].customer.id  # sorted by id, not by health: on any page
            timings = []
            for _ in range(opens):
                devtools.open(server.url + "/")
                timings.append(devtools.load_timings())
            size = devtools.eval("document.documentElement.outerHTML.length")
            devtools.eval(WATCH % "document.getElementById('shown').textContent.indexOf('1 of') === 0")
            devtools.click("#filter")
            devtools.send("Input.insertText", text=target)
            filter_ms = devtools.wait("window.__done && window.__done - window.__t0", seconds=120)
            devtools.open(server.url + "/")
            devtools.eval(WATCH % PROBLEMS_SHOWN)
            devtools.click("#problems")
            problems_ms = devtools.wait("window.__done && window.__done - window.__t0", seconds=120)
        finally:
            devtools.close()
            paging.PAGE_SIZE = kept
            server.shutdown()
            server.server_close()
            refresher.close()
    return Browser(customers, paged, int(size), timings[0], timings[1:], float(filter_ms), float(problems_ms))


class Changing:
    """What App asks the refresher for, here a snapshot in which `change()` refreshes some customers: their
    states are new objects (a new attempt), as customer.applied leaves a refresh that brought nothing new,
    in a new generation. With `new_data`, each also got a new success of every module (new last successes)."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self._next = 0

    def change(self, count: int, new_data: bool = False) -> Snapshot:
        states = list(self.snap.customers)
        step = max(1, len(states) // max(count, 1))
        now = time.time()
        for _ in range(min(count, len(states))):
            n = self._next = (self._next + step) % len(states)  # customers all over the sorted order
            cs = states[n]
            states[n] = replace(cs, attempt=Attempt(True, now))
            if new_data:
                states[n] = replace(states[n], last_success=dict.fromkeys(cs.last_success, now))
        self.snap = replace(self.snap, generation=self.snap.generation + 1, customers=tuple(states))
        return self.snap

    def refresh_all(self, now: float) -> Snapshot:
        """Every customer refreshed at `now` with nothing new: as customer.applied leaves it, a new state with new
        Attempts (each enabled group's `after`) and the same data objects."""
        enabled = self.snap.config.endpoints
        states = []
        for cs in self.snap.customers:
            changes: dict[str, Any] = {"attempt": cs.attempt.after(None, now)}
            if enabled.protected:
                changes["protected_attempt"] = cs.protected_attempt.after(None, now)
            if enabled.scan_profiles:
                changes["scan_profiles_attempt"] = cs.scan_profiles_attempt.after(None, now)
            if cs.seats_attempt is not None:
                changes["seats_attempt"] = cs.seats_attempt.after(None, now)
            states.append(replace(cs, **changes))
        self.snap = replace(self.snap, generation=self.snap.generation + 1, customers=tuple(states))
        return self.snap

    def snapshot(self) -> Snapshot:
        return self.snap

    def snapshot_within(self, wait: float) -> Snapshot:
        return self.snap


class FromScratch(RowCache):
    """The view as built before rows were kept: every customer's Row for each generation (view.build)."""

    def build(self, snap: Snapshot, process: Process, now: float) -> Status:
        status = view.build(snap, process, now)
        self.built, self.reused = len(status.rows), 0
        self.haystacks = tuple(paging.haystack(row) for row in status.rows)  # the page built them on first use
        return status


def refreshed_fleet(customers: int, seed: int = 1, cfg: config.Config | None = None) -> Snapshot:
    """The simulator's fleet after one refresh by a real Refresher (without HTTP: SimulatorRows)."""
    sim = Simulator(FleetSpec(customers=customers, seed=seed))
    if cfg is None:
        cfg = config.from_mapping({"auth": {"client_id": "bench", "client_secret": "bench"}, "cache": {"ttl": "1h"}})
    refresher = Refresher(cfg, SimulatorRows(sim), spread=False)
    try:
        cycle = refresher.trigger()
        assert cycle is not None
        cycle.result()
        return refresher.snapshot()
    finally:
        refresher.close()


@dataclass
class Rebuild:
    customers: int
    what: str  # what happened before each build
    view_before: list[float]  # view.build, every row
    view_after: list[float]  # the kept rows' build: the changed customers' cells, every new state finished, a sort
    page_before: list[float]  # view, HTML of the default view, gzip: what the first request after a change pays
    page_after: list[float]
    built_after: int  # rows whose cells the kept build built per change (the most of any)
    finished_after: int  # rows it finished again from kept cells (the most of any)

    def report(self) -> str:
        def line(what: str, before: list[float], after: list[float]) -> str:
            b, a = statistics.median(before), statistics.median(after)
            return f"  {what:<38}before {b * 1000:8.1f} ms, after {a * 1000:7.1f} ms (ratio {a / b:.3f})"

        return (
            f"status page after {self.what} (median of {len(self.view_after)} builds; after: at most "
            f"{self.built_after} rows' cells built, {self.finished_after} rows finished from kept cells per build;"
            " before: every row built)\n"
            + line("build of the view:", self.view_before, self.view_after)
            + "\n"
            + line("page (view, HTML, gzip):", self.page_before, self.page_after)
        )


def rebuild(customers: int = 5000, changed: int = 5, rounds: int = 7) -> list[Rebuild]:
    """Before and after side by side, interleaved, on the same changes: from scratch, and from the kept rows.

    Two cases: (a) `changed` customers got new data (a new success of each module); (b) every customer was
    refreshed with nothing new, the page opened a cache.ttl later (the common case: a person opens it now and
    then). In (b) the clock moves on a TTL per build, so the rows whose staleness flipped are built again.
    """
    process = Process("bench", time.time())
    holder = Changing(refreshed_fleet(customers))
    ttl = holder.snap.config.cache.ttl
    rows = RowCache()
    clock = [time.time()]  # the builds' time, moved on a TTL per build in (b)
    scratch, kept = StatusCache(process, lambda: clock[0]), StatusCache(process, lambda: clock[0])
    scratch.rows = FromScratch()
    results = []
    reuse, cache.REUSE = cache.REUSE, 0.0  # every generation built: the cost, not how long an old page is served
    try:
        rows.build(holder.snap, process, clock[0])
        for pages in (scratch, kept):
            pages.get(holder.snap).html_parts(clock[0], gzip=True)
        for case in ("a", "b"):
            times: list[tuple[float, float, float, float]] = []
            built, finished = [], []
            for _ in range(rounds):
                if case == "a":
                    clock[0] = max(clock[0], time.time())
                    snap = holder.change(changed, new_data=True)
                else:
                    clock[0] += ttl
                    snap = holder.refresh_all(clock[0])
                now = clock[0]
                started = time.perf_counter()
                view.build(snap, process, now)
                view_built = time.perf_counter()
                rows.build(snap, process, now)
                rows_built = time.perf_counter()
                scratch.get(snap).html_parts(now, gzip=True)
                scratch_page = time.perf_counter()
                kept.get(snap).html_parts(now, gzip=True)
                kept_page = time.perf_counter()
                built.append(rows.built)
                finished.append(rows.finished)
                times.append(
                    (view_built - started, rows_built - view_built, scratch_page - rows_built, kept_page - scratch_page)
                )
            what = (
                f"{changed} of {customers} customers changed"
                if case == "a"
                else f"every one of {customers} customers refreshed with nothing new, a cache.ttl ({ttl:.0f} s) later"
            )
            view_before, view_after, page_before, page_after = (list(column) for column in zip(*times, strict=True))
            results.append(
                Rebuild(customers, what, view_before, view_after, page_before, page_after, max(built), max(finished))
            )
    finally:
        cache.REUSE = reuse
    return results


@dataclass
class BrowserChange:
    customers: int
    kept: bool  # the rows kept between builds (after), or every row built per generation (before)
    changed: int
    opens: list[dict[str, float]]  # each the first open of a new generation: the server builds the page meanwhile

    def report(self) -> str:
        def ms(key: str) -> str:
            values = [t[key] for t in self.opens]
            return f"{statistics.median(values):>7.0f} {max(values):>7.0f}"

        label = "after (kept rows)" if self.kept else "before (every row)"
        return f"{self.customers:>9} {label:<19} {ms('response')} {ms('paint')} {ms('load')}"


CHANGE_HEADER = (
    f"{'customers':>9} {'first open after a change':<19} {'response med/max':>15} {'first paint':>15}"
    f" {'load event':>15}   (ms; %d customers changed before each open)"
)


def browser_change(customers: int, kept: bool, opens: int = 5, changed: int = 5, seed: int = 1) -> BrowserChange:
    """Chromium opens the page right after `changed` customers got new data, `opens` times: a new generation each."""
    from tests.support.devtools import DevTools  # the benchmark's only use of the test support

    holder = Changing(refreshed_fleet(customers, seed))
    registry = CollectorRegistry()
    app = App(lambda: cast(Refresher, holder), registry, Telemetry(registry))  # it reads only snapshots
    if not kept:
        app.status.rows = FromScratch()
    server = Server(("127.0.0.1", 0), app)
    serve_in_thread(server)
    reuse, cache.REUSE = cache.REUSE, 0.0  # every generation built: the cost, not how long an old page is served
    with tempfile.TemporaryDirectory() as profile:
        devtools = DevTools(Path(profile))
        try:
            devtools.open(server.url + "/")  # the first generation: every row built, either way
            devtools.load_timings()
            timings = []
            for _ in range(opens):
                holder.change(changed, new_data=True)
                devtools.open(server.url + "/")
                timings.append(devtools.load_timings())
        finally:
            devtools.close()
            cache.REUSE = reuse
            server.shutdown()
            server.server_close()
    return BrowserChange(customers, kept, changed, timings)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--customers", type=int, default=1000)
    p.add_argument("--requests", type=int, default=30)
    p.add_argument("--changed", type=int, default=5, help="customers changed per new generation (after a change)")
    p.add_argument("--browser", type=int, nargs="*", metavar="CUSTOMERS", help="measure in Chromium at these sizes")
    args = p.parse_args(argv)
    if args.browser is None:
        print(measure(args.customers, args.requests).report())
        for case in rebuild(args.customers, args.changed):
            print(case.report())
        return 0
    results = [browser(n, paged) for n in args.browser for paged in (False, True)]
    changes = [browser_change(n, kept, changed=args.changed) for n in args.browser for kept in (False, True)]
    print(BROWSER_HEADER)
    for result in results:
        print(result.report())
    print(CHANGE_HEADER % args.changed)
    for change in changes:
        print(change.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
