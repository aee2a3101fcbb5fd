"""When to call the API: TTL cache, refresh slots spread over the TTL, single flight, isolation, scrape deadlines."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import replace

import cachetools

from exporter.config import Config, EndpointsConfig
from exporter.errors import ApiError, ResponseFormatError
from exporter.model import (
    GROUP_CUSTOMERS,
    INTERNAL,
    Attempt,
    Customer,
    CustomerState,
    Failure,
    Job,
    JobKey,
    ModuleKey,
    Runs,
    Snapshot,
)
from exporter.refresh import changes, customer, records, slots
from exporter.refresh.fetch import ApiClient
from exporter.refresh.last_success import Entry, LastSuccess
from exporter.refresh.parse_log import ParseLog
from exporter.refresh.runs import RunMemory, Saved
from exporter.refresh.workers import Workers

log = logging.getLogger(__name__)

# Cache keys of the fleet-wide calls; no customer id starts with NUL.
LISTING = "\0listing"
SERVICES = "\0services"

# While spreading, the state file is written at most this often (seconds): a pass refreshes a few customers.
SAVE_EVERY = 60.0


def _fresh_cache(clock: Callable[[], float]) -> cachetools.TLRUCache[str, float]:
    """Keys present are fresh; each value is how long its key stays fresh from when it was stored."""
    return cachetools.TLRUCache(maxsize=1_000_000, ttu=lambda key, lifetime, now: now + lifetime, timer=clock)


class Refresher:
    """Keeps per-customer data fresh enough, calling the API only when the cache says so.

    A refresh cycle runs in the background; scrapes that arrive while it runs share it (single
    flight), however many scrapers there are. A scrape waits for it only until its deadline.

    When a full refresh takes more than a second at the rate limit, each customer
    is refreshed in its own slot of the TTL (slots.py) rather than all when their TTLs expire together:
    after the first cycle the cycle thread keeps running while scrapes come, refreshing the customers
    whose slot has come every tick, so the API sees an even rate. `spread=False` keeps the plain TTL
    (the benchmark's "before").
    """

    def __init__(
        self,
        config: Config,
        client: ApiClient,
        *,
        on_parse_error: Callable[[str], None] | None = None,
        on_state_file: Callable[[bool, int], None] | None = None,
        owns: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        spread: bool = True,
    ) -> None:
        self._config, self._client = config, client
        self._owns = owns or (lambda customer_id: True)
        self._clock, self._wall = clock, wall_clock
        self._lock = threading.Lock()
        # What scrapes wait for: done when the refresh pass running (or next) has ended.
        self._cycle: Future[None] | None = None
        self._pool = Workers(config.api.max_concurrency, "refresh")
        self._cycle_thread = Workers(1, "refresh-cycle")
        self._spread = spread
        self._looping = False  # the cycle thread runs passes (see _loop)
        self._stopped = threading.Event()  # set while it does not
        self._stopped.set()
        self._closed = False
        self._wake = threading.Event()
        self._asked = clock()  # when a scrape last asked for data: the cycle thread idles a TTL after it
        self._saved = -float("inf")
        self._saved_generation = -1
        self._slots = slots.Slots()
        # cachetools expires keys on the injected clock, each after its own lifetime (see _mark_fresh_locked).
        self._fresh = _fresh_cache(clock)
        self._up = False
        self._listing = Attempt()
        self._services = Attempt()
        self._customers: dict[str, CustomerState] = {}
        self._memory = LastSuccess(config.state_file, on_state_file or (lambda ok, skipped: None), wall_clock)
        self._runs = RunMemory(self._memory.take_saved_runs())
        self._generation = 0
        self._refreshed = False
        self._last_refresh_seconds: float | None = None
        self._bad = ParseLog(on_parse_error or (lambda field_name: None), clock)
        self._after_cycle: list[Callable[[Snapshot], None]] = []
        # Built lazily on the next read: a cycle changes data once per customer, scrapes read rarely.
        self._snapshot: Snapshot | None = None

    def snapshot(self) -> Snapshot:
        with self._lock:
            if self._snapshot is None:
                self._snapshot = self._build_snapshot()
            return self._snapshot

    def snapshot_within(self, wait: float) -> Snapshot:
        """Start a refresh if anything is stale, wait for it at most `wait` seconds, return the data.

        The snapshot to be had within `wait` (not "collect", which in Prometheus yields metric families).
        """
        cycle = self.trigger()
        if cycle is not None and wait > 0:
            try:
                cycle.result(timeout=wait)
            except TimeoutError:
                log.info("scrape deadline reached, serving cached data while the refresh goes on")
        return self.snapshot()

    def trigger(self) -> Future[None] | None:
        """The running refresh cycle, started now if data is stale and none runs."""
        with self._lock:
            self._asked = self._clock()
            if self._cycle is not None and not self._cycle.done():
                return self._cycle
            if not self._stale_locked():
                return None
            self._cycle = Future()
            if self._looping:
                self._wake.set()  # the running cycle thread takes it on at once
            else:
                self._looping = True
                self._stopped.clear()
                self._cycle_thread.submit(self._loop)
            return self._cycle

    def reconfigure(self, config: Config, client: ApiClient | None = None) -> None:
        """Use a new config (and `client`, if given) from the next cycle on; the data held so far stays served.

        Only what the change affects becomes due, so a reload costs the API nothing it does not need:
        another source (api.base_url, api.token_url, api.version, auth.client_id) or another cache.ttl
        makes everything due; `customers` the listing; `jobs.select`, `endpoints.jobs` or
        `endpoints.protected`, `endpoints.scan_profiles` or `scan_profiles` every customer; `endpoints.services`
        the subscriptions (v3: and every customer, for its user seats). `jobs.status_outcomes` is applied to the
        jobs and scan profiles held, without fetching them again; the rest (jobs.expected_interval, web,
        timeouts, retries, secrets) needs no data again. A new client brings its own token.
        """
        with self._lock:
            old = self._config
            if config == old and client is None:
                return  # nothing changed: the same generation, no re-encoding
            if config.api.max_concurrency != old.api.max_concurrency:
                self._pool.close()
                self._pool = Workers(config.api.max_concurrency, "refresh")
            if client is not None:
                self._client = client
            self._config = config
            self._invalidate_locked(old, config)
            if config.jobs.status_outcomes != old.jobs.status_outcomes:
                self._remap_outcomes_locked(config)
            self._publish_locked()

    def _invalidate_locked(self, old: Config, new: Config) -> None:
        due = changes.due(old, new)
        if due.everything:
            self._fresh.clear()
            return
        if due.listing:
            self._fresh.pop(LISTING, None)
        if due.customers:
            for cid in self._customers:
                self._fresh.pop(cid, None)
        if due.services:
            self._fresh.pop(SERVICES, None)

    def _remap_outcomes_locked(self, config: Config) -> None:
        """Apply changed status mappings to the jobs held: the rows have not changed, only what they mean.

        The run counts are left alone: a run counted stays counted at the outcome it had then, and a run that
        the new mapping calls finished is counted by the next refresh, which parses with the new mapping.
        """
        overrides = config.jobs.status_outcomes
        for cid, held in self._customers.items():
            current = held
            jobs = tuple(replace(job, outcome=records.outcome(job, overrides)) for job in current.jobs)
            if jobs != current.jobs:
                seen = self._memory.record(cid, jobs)
                current = replace(current, jobs=jobs, last_success=seen)
            profiles = tuple(replace(p, outcome=records.scan_outcome(p, overrides)) for p in current.scan_profiles)
            if profiles != current.scan_profiles:
                current = replace(current, scan_profiles=profiles)
            if current is not held:
                self._customers[cid] = current

    def close(self, wait: float = 0.0) -> None:
        """Start no more requests; wait up to `wait` seconds for those in flight (their timeouts bound them).

        Writes the state file once more when something was refreshed since it last was: spread passes
        write it at most every SAVE_EVERY seconds, and a restart must not lose what they counted.
        """
        with self._lock:
            self._closed = True
        self._wake.set()
        self._stopped.wait(wait)
        self._cycle_thread.close()
        self._pool.close()
        with self._lock:
            pending = self._refreshed and self._generation != self._saved_generation
            if pending:
                entries, runs = self._state_locked(self._config)
        if pending:
            self._memory.save(entries, runs)

    def _state_locked(self, config: Config) -> tuple[dict[JobKey, Entry], dict[JobKey, Saved]]:
        """What the state file is to hold now (last successes, run counts), pruned past state_retention."""
        self._saved = self._clock()
        self._saved_generation = self._generation
        entries = self._memory.prune(self._customers, config.state_retention)
        runs = self._runs.prune(self._customers, config.state_retention, self._wall(), self._memory.saving)
        return entries, runs

    def _stale_locked(self) -> bool:
        # Every key is a fleet-wide call or a current customer, so a count tells whether one has expired;
        # len() expires entries first, in O(expired) rather than O(customers) on every scrape.
        fleet_keys = 2 if self._config.endpoints.services else 1
        return LISTING not in self._fresh or len(self._fresh) < len(self._customers) + fleet_keys

    def _mark_fresh_locked(self, key: str) -> None:
        """`key` was just refreshed (or attempted): fresh for a TTL, or until its slot comes if spreading."""
        ttl = self._config.cache.ttl
        lifetime = ttl
        if self._spreading_locked() and not key.startswith("\0"):
            lifetime = self._slots.until_slot(key, self._clock(), ttl)
        self._fresh[key] = lifetime

    def _restart_slots(self, refreshed: list[str]) -> None:
        """After a pass that refreshed every customer (the first, or after a reload or an idle spell): the
        slots start at its end, so that the customers it refreshed come due evenly over the next TTL rather
        than at once for those whose slots passed during it. Each is then at most a TTL plus the pass old.
        """
        with self._lock:
            if not self._spreading_locked():
                return
            self._slots.epoch = self._clock()
            for cid in refreshed:
                if cid in self._customers:
                    self._mark_fresh_locked(cid)

    def _spreading_locked(self) -> bool:
        """Spread when a full refresh takes more than a second at the rate limit (and more than one round of workers).

        A smaller fleet's refresh is over within about a second whenever it comes (1/0.9 of one at the limit, with
        the limiter's headroom), which is no burst worth spreading: it keeps the plain TTL, each customer
        refreshed exactly when its data turns a TTL old.
        """
        if not self._spread:
            return False
        enabled = self._config.endpoints
        # At least one request per group and customer (pages and scan summaries come on top).
        per_customer = int(enabled.jobs) + int(enabled.protected) + int(enabled.scan_profiles)
        if self._config.reads_seats:
            per_customer += len(enabled.seat_tenant_types)
        fleet = 2 if enabled.services else 1
        api = self._config.api
        return len(self._customers) * per_customer + fleet > max(api.max_concurrency, api.max_requests_per_second)

    def _loop(self) -> None:
        """The cycle thread: refresh passes while anything is stale; while spreading, ticks until idle.

        Idle is a TTL without a scrape: an exporter nobody scrapes stops calling the API, as before.
        """
        try:
            self._passes()
        finally:  # also if a pass raised past its own handler: the next trigger starts a new loop
            with self._lock:
                self._looping = False
                self._stopped.set()
                if self._cycle is not None and not self._cycle.done():
                    self._cycle.set_result(None)

    def _passes(self) -> None:
        while True:
            with self._lock:
                waiting = self._cycle
                work = self._stale_locked() and not self._closed
                if not work:
                    if waiting is not None and not waiting.done():
                        waiting.set_result(None)
                    ttl = self._config.cache.ttl
                    idle = self._clock() - self._asked > ttl
                    if self._closed or idle or not self._spreading_locked():
                        return
                    tick = slots.tick(ttl)
            if work:
                try:
                    self._run_cycle(saving=waiting is not None and not waiting.done())
                finally:
                    with self._lock:
                        if waiting is not None and not waiting.done():
                            waiting.set_result(None)
                continue
            self._wake.wait(tick)
            self._wake.clear()

    def _run_cycle(self, saving: bool = True) -> None:
        started = self._clock()
        save, everyone = False, False
        entries: dict[JobKey, Entry] = {}
        runs: dict[JobKey, Saved] = {}
        try:
            with self._lock:
                config, client = self._config, self._client
                list_due = LISTING not in self._fresh
            token_error = self._refresh_listing(config, client) if list_due else None
            if token_error is not None:
                # No token for the listing means none for any customer: asking on behalf of each would
                # send the identity endpoint (retries + 1) requests per customer. Fail them all at once.
                self._fail_due(token_error)
                return
            with self._lock:
                due = [cid for cid in self._customers if cid not in self._fresh]
                services_due = config.endpoints.services and SERVICES not in self._fresh
                everyone = bool(due) and len(due) == len(self._customers)
            if services_due:
                self._refresh_services(config, client)
            futures = [self._pool.submit(self._guarded_refresh, config, client, cid) for cid in due]
            for future in futures:
                future.result()
            if everyone:
                self._restart_slots(due)
        except Exception:  # a bug must not kill the cycle thread silently, nor pass for a good cycle
            log.exception("refresh cycle failed unexpectedly")
            self._cycle_failed()
        finally:
            with self._lock:
                self._refreshed = True
                if everyone or not self._spreading_locked():
                    # While spreading, a pass refreshes the few customers whose slot came: the figure
                    # stays that of the last pass that refreshed everyone, a full refresh.
                    self._last_refresh_seconds = self._clock() - started
                self._publish_locked()
                # Spread passes come every tick: the state file is written after a pass a scrape
                # waited for, or at most every SAVE_EVERY seconds (and by close(), for a restart).
                save = saving or self._clock() - self._saved >= SAVE_EVERY
                if save:
                    entries, runs = self._state_locked(config)
            if save:
                self._memory.save(entries, runs)
            for callback in self._after_cycle:
                try:
                    callback(self.snapshot())
                except Exception:  # an encoder's bug must not stop refreshing
                    log.exception("after-cycle callback failed")

    def after_cycle(self, callback: Callable[[Snapshot], None]) -> None:
        """Call `callback` with the new snapshot at the end of every cycle, in the refresh thread.

        The runtime wires App.prerender here, to encode the exposition rather than in the next scrape's request,
        which has a deadline to keep.
        """
        self._after_cycle.append(callback)

    def _refresh_listing(self, config: Config, client: ApiClient) -> ApiError | None:
        """Refresh the customer list; return the error if the token could not be had."""
        now = self._wall()
        try:
            rows = client.customers()
        except ApiError as exc:
            self._listing_failed(exc, now)
            return exc if exc.no_token else None
        usable = records.customers(rows, self._bad)
        listed = {c.id: c for c in usable if config.customers.wanted(c.id) and self._owns(c.id)}
        if rows and not usable:
            # Not one usable row: dropping every customer on a broken answer would lose all good data.
            self._listing_failed(
                ResponseFormatError(f"none of the {len(rows)} customer rows is usable", endpoint=GROUP_CUSTOMERS), now
            )
            return None
        for wanted in config.customers.include:
            if wanted not in listed and self._owns(wanted):
                log.warning("configured customer is not listed by the API", extra={"customer_id": wanted})
        with self._lock:
            self._up = True
            self._listing = self._listing.after(None, now)
            self._mark_fresh_locked(LISTING)
            old = self._customers
            # A customer the API no longer lists stops being exported.
            self._customers = {cid: self._listed_state(old.get(cid), c) for cid, c in listed.items()}
            self._slots.assign(self._customers.keys())
            for cid in old.keys() - listed.keys():
                self._fresh.pop(cid, None)
            self._publish_locked()
        return None

    def _cycle_failed(self) -> None:
        """After an unexpected error: the listing and every customer not yet refreshed show as failed.

        Else avepoint_up and avepoint_refresh_success would stay 1 while stale data is served.
        """
        with self._lock:
            self._up = False
            self._listing = self._listing.after(INTERNAL, self._wall())
            self._mark_fresh_locked(LISTING)  # retry after the TTL, not on every scrape
        self._fail_due(INTERNAL)

    def _fail_due(self, exc: ApiError | Failure) -> None:
        """Mark every due customer failed with the listing's token error (already logged once)."""
        now = self._wall()
        error = exc if isinstance(exc, Failure) else Failure.of(exc)
        with self._lock:
            enabled = self._config.endpoints
            got = customer.Fetched.failed(self._config, error)
            for cid in [cid for cid in self._customers if cid not in self._fresh]:
                self._record_locked(enabled, cid, now, got)
            if enabled.services:
                self._services = self._services.after(error, now)
                self._mark_fresh_locked(SERVICES)
            self._publish_locked()

    def _listing_failed(self, exc: ApiError, now: float) -> None:
        log.warning(
            "listing customers failed, keeping the last known list",
            extra={"endpoint": exc.endpoint, "error": str(exc), "error_class": type(exc).__name__},
        )
        with self._lock:
            self._up = False
            self._listing = self._listing.after(Failure.of(exc), now)
            self._mark_fresh_locked(LISTING)  # retry after the TTL, not on every scrape
            self._publish_locked()

    def _listed_state(self, old: CustomerState | None, listed: Customer) -> CustomerState:
        if old is None:
            # New, or known from the state file: its remembered successes apply once its jobs are fetched.
            return CustomerState(listed)
        return old if old.customer == listed else replace(old, customer=listed)

    def _guarded_refresh(self, config: Config, client: ApiClient, customer_id: str) -> None:
        """Refresh one customer; a bug or an unexpected error fails that customer alone, visibly."""
        if self._closed:
            return  # closing: no new requests
        try:
            self._refresh_customer(config, client, customer_id)
        except Exception:
            log.exception("refreshing customer failed unexpectedly", extra={"customer_id": customer_id})
            with self._lock:
                self._record_locked(
                    config.endpoints, customer_id, self._wall(), customer.Fetched.failed(config, INTERNAL)
                )
                self._publish_locked()

    def _refresh_customer(self, config: Config, client: ApiClient, customer_id: str) -> None:
        now = self._wall()
        got = customer.fetched(config, client, customer_id, self._bad)
        with self._lock:
            self._record_locked(config.endpoints, customer_id, now, got)
            self._publish_locked()

    def _record_locked(self, enabled: EndpointsConfig, customer_id: str, now: float, got: customer.Fetched) -> None:
        """Store one customer's refresh (customer.applied); nothing if it left the listing meanwhile."""
        current = self._customers.get(customer_id)
        if current is None:
            return
        self._mark_fresh_locked(customer_id)

        def remember(jobs: tuple[Job, ...]) -> tuple[Mapping[ModuleKey, float], Mapping[ModuleKey, Runs]]:
            return self._memory.record(customer_id, jobs), self._runs.record(customer_id, jobs, now)

        self._customers[customer_id] = customer.applied(current, got, enabled, now, remember)

    def _refresh_services(self, config: Config, client: ApiClient) -> None:
        now = self._wall()
        with self._lock:
            ids = sorted(self._customers)
        try:
            elements = client.services(ids)
        except ApiError as exc:
            error = customer.failed("refreshing subscriptions failed, keeping the last good data", exc)
            with self._lock:
                self._services = self._services.after(error, now)
                self._mark_fresh_locked(SERVICES)
                self._publish_locked()
            return
        by_customer = records.subscriptions(elements, self._bad)
        with self._lock:
            self._services = self._services.after(None, now)
            self._mark_fresh_locked(SERVICES)
            for cid, current in self._customers.items():
                kept = records.unique_subscriptions(by_customer.get(cid, []))
                if kept != current.subscriptions:
                    self._customers[cid] = replace(current, subscriptions=kept)
            self._publish_locked()

    def _publish_locked(self) -> None:
        self._generation += 1
        self._snapshot = None

    def _build_snapshot(self) -> Snapshot:
        return Snapshot(
            generation=self._generation,
            config=self._config,
            up=self._up,
            listing=self._listing,
            services=self._services,
            customers=tuple(self._customers[cid] for cid in sorted(self._customers)),
            refreshed=self._refreshed,
            last_refresh_seconds=self._last_refresh_seconds,
        )
