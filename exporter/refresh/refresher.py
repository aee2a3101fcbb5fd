"""When to call the API: TTL cache, single flight, per-customer isolation, scrape deadlines."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import replace
from typing import Any, Protocol

import cachetools

from exporter import codes
from exporter.config import Config, EndpointsConfig
from exporter.errors import ApiError, LimitExceeded, ResponseFormatError
from exporter.model import (
    EP_CUSTOMERS,
    EP_JOBS,
    INTERNAL,
    Attempt,
    Customer,
    CustomerState,
    Failure,
    Job,
    JobKey,
    ModuleKey,
    Outcome,
    ProtectedData,
    Snapshot,
    Subscription,
)
from exporter.refresh import state
from exporter.upstream import parse

log = logging.getLogger(__name__)

SUCCESSFUL = frozenset({Outcome.SUCCESS, Outcome.WARNING})
# A bad value repeats with every refresh: one log line per customer and field per this many seconds, with
# the number of repeats not logged, names the row without flooding the log.
PARSE_LOG_INTERVAL = 3600.0
# Bound on the (customer, field) pairs remembered for that; past it the memory starts over.
_PARSE_LOG_KEYS = 100_000
# Cache keys of the fleet-wide calls; no customer id starts with NUL.
LISTING = "\0listing"
SERVICES = "\0services"


class Workers:
    """A fixed pool of daemon threads.

    Not ThreadPoolExecutor: its threads are joined at interpreter exit, so a request stuck on a slow
    upstream would hold up shutdown for as long as the upstream takes. Daemon threads end with the process.
    """

    def __init__(self, size: int, name: str) -> None:
        self._tasks: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._size = size
        for i in range(size):
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True).start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._tasks.put((future, fn, args))
        return future

    def close(self) -> None:
        for _ in range(self._size):
            self._tasks.put(None)

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            future, fn, args = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)


class ApiClient(Protocol):
    def customers(self) -> list[Any]: ...
    def jobs(self, customer_id: str) -> list[Any]: ...
    def jobs_for(self, customer_id: str, job_type: str, job_module: str) -> list[Any]: ...
    def protected(self, customer_id: str) -> list[Any]: ...
    def services(self, customer_ids: list[str] | None = None) -> list[Any]: ...


class Refresher:
    """Keeps per-customer data fresh enough, calling the API only when the cache says so.

    A refresh cycle runs in the background; scrapes that arrive while it runs share it (single
    flight), however many scrapers there are. A scrape waits for it only until its deadline.
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
    ) -> None:
        self._config, self._client = config, client
        self._on_parse_error = on_parse_error or (lambda field_name: None)
        self._owns = owns or (lambda customer_id: True)
        self._clock, self._wall = clock, wall_clock
        self._lock = threading.Lock()
        self._cycle: Future[None] | None = None
        self._pool = Workers(config.api.max_concurrency, "refresh")
        self._cycle_thread = Workers(1, "refresh-cycle")
        # Keys present are fresh; cachetools expires them after the TTL on the injected clock.
        self._fresh: cachetools.TTLCache[str, bool] = cachetools.TTLCache(
            maxsize=1_000_000, ttl=config.cache.ttl, timer=clock
        )
        self._up = False
        self._listing = Attempt()
        self._services = Attempt()
        self._customers: dict[str, CustomerState] = {}
        # customer id -> module -> time; all of it is saved, also for customers not listed right now,
        # until its job has not been exported for state_retention (then it is gone for good).
        self._last_success: dict[str, dict[ModuleKey, float]] = {}
        self._last_seen: dict[str, dict[ModuleKey, float]] = {}  # wall time each was last exported
        self._load_state(config.state_file, on_state_file or (lambda ok, skipped: None))
        self._generation = 0
        self._refreshed = False
        self._last_refresh_seconds: float | None = None
        # (customer id, field) -> [monotonic time of the last line, occurrences not logged since]
        self._parse_log: dict[tuple[str, str], list[float]] = {}
        self._parse_log_lock = threading.Lock()
        self._after_cycle: list[Callable[[Snapshot], None]] = []
        # Built lazily on the next read: a cycle changes data once per customer, scrapes read rarely.
        self._snapshot: Snapshot | None = None

    # --- public ---------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        with self._lock:
            if self._snapshot is None:
                self._snapshot = self._build_snapshot()
            return self._snapshot

    def collect(self, wait: float) -> Snapshot:
        """Start a refresh if anything is stale, wait for it at most `wait` seconds, return the data."""
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
            if self._cycle is not None and not self._cycle.done():
                return self._cycle
            if not self._stale_locked():
                return None
            self._cycle = self._cycle_thread.submit(self._run_cycle)
            return self._cycle

    def reconfigure(self, config: Config, client: ApiClient | None = None) -> None:
        """Use a new config (and `client`, if given) from the next cycle on; the data held so far stays served.

        Only what the change affects becomes due, so a reload costs the API nothing it does not need:
        another source (api.base_url, api.token_url, api.version, auth.client_id) or another cache.ttl
        makes everything due; `customers` the listing; `jobs.select`, `endpoints.jobs` or
        `endpoints.protected` every customer; `endpoints.services` the subscriptions. `jobs.status_outcomes`
        is applied to the jobs held, without fetching them again; the rest (jobs.expected_interval, web,
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
        if new.cache.ttl != old.cache.ttl:
            self._fresh = cachetools.TTLCache(maxsize=1_000_000, ttl=new.cache.ttl, timer=self._clock)
            return
        source = ("base_url", "token_url", "version")
        if any(getattr(new.api, f) != getattr(old.api, f) for f in source) or new.auth.client_id != old.auth.client_id:
            self._fresh.clear()
            return
        if new.customers != old.customers:
            self._fresh.pop(LISTING, None)
        per_customer = (
            new.jobs.select != old.jobs.select
            or new.endpoints.jobs != old.endpoints.jobs
            or new.endpoints.protected != old.endpoints.protected
        )
        if per_customer:
            for cid in self._customers:
                self._fresh.pop(cid, None)
        if new.endpoints.services != old.endpoints.services:
            self._fresh.pop(SERVICES, None)

    def _remap_outcomes_locked(self, config: Config) -> None:
        """Apply changed status mappings to the jobs held: the rows have not changed, only what they mean."""
        overrides = config.jobs.status_outcomes
        for cid, current in self._customers.items():
            jobs = tuple(replace(job, outcome=_outcome(job, overrides)) for job in current.jobs)
            if jobs != current.jobs:
                seen = self._remember_successes(cid, jobs)
                self._customers[cid] = replace(current, jobs=jobs, last_success=seen)

    def close(self) -> None:
        self._cycle_thread.close()
        self._pool.close()

    # --- the cycle ------------------------------------------------------------------------------

    def _stale_locked(self) -> bool:
        # Every key is a fleet-wide call or a current customer, so a count tells whether one has expired;
        # len() expires entries first, in O(expired) rather than O(customers) on every scrape.
        fleet_keys = 2 if self._config.endpoints.services else 1
        return LISTING not in self._fresh or len(self._fresh) < len(self._customers) + fleet_keys

    def _run_cycle(self) -> None:
        started = self._clock()
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
            if services_due:
                self._refresh_services(config, client)
            futures = [self._pool.submit(self._guarded_refresh, config, client, cid) for cid in due]
            for future in futures:
                future.result()
        except Exception:  # a bug must not kill the cycle thread silently, nor pass for a good cycle
            log.exception("refresh cycle failed unexpectedly")
            self._cycle_failed()
        finally:
            with self._lock:
                self._refreshed = True
                self._last_refresh_seconds = self._clock() - started
                self._publish_locked()
                entries = self._state_entries_locked(config.state_retention)
            self._save_state(entries)
            for callback in self._after_cycle:
                try:
                    callback(self.snapshot())
                except Exception:  # a renderer's bug must not stop refreshing
                    log.exception("after-cycle callback failed")

    def after_cycle(self, callback: Callable[[Snapshot], None]) -> None:
        """Call `callback` with the new snapshot at the end of every cycle, in the refresh thread.

        The server uses it to encode the exposition here rather than in the next scrape's request,
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
        listed: dict[str, Customer] = {}
        usable = 0
        for row in rows:
            customer, errors = parse.customer(row) if isinstance(row, dict) else (None, ["customer"])
            self._count_parse_errors(errors, customer.id if customer is not None else "")
            usable += customer is not None
            if customer is not None and config.customers.wanted(customer.id) and self._owns(customer.id):
                listed[customer.id] = customer
        if rows and not usable:
            # Not one usable row: dropping every customer on a broken answer would lose all good data.
            self._listing_failed(
                ResponseFormatError(f"none of the {len(rows)} customer rows is usable", endpoint=EP_CUSTOMERS), now
            )
            return None
        for wanted in config.customers.include:
            if wanted not in listed and self._owns(wanted):
                log.warning("configured customer is not listed by the API", extra={"customer_id": wanted})
        with self._lock:
            self._up = True
            self._listing = self._listing.after(None, now)
            self._fresh[LISTING] = True
            old = self._customers
            # A customer the API no longer lists stops being exported.
            self._customers = {cid: self._listed_state(old.get(cid), c) for cid, c in listed.items()}
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
            self._fresh[LISTING] = True  # retry after the TTL, not on every scrape
        self._fail_due(INTERNAL)

    def _fail_due(self, exc: ApiError | Failure) -> None:
        """Mark every due customer failed with the listing's token error (already logged once)."""
        now = self._wall()
        error = exc if isinstance(exc, Failure) else Failure.of(exc)
        with self._lock:
            enabled = self._config.endpoints
            for cid in [cid for cid in self._customers if cid not in self._fresh]:
                self._record_locked(enabled, cid, now, jobs_error=error, protected_error=error)
            if enabled.services:
                self._services = self._services.after(error, now)
                self._fresh[SERVICES] = True
            self._publish_locked()

    def _listing_failed(self, exc: ApiError, now: float) -> None:
        log.warning(
            "listing customers failed, keeping the last known list",
            extra={"endpoint": exc.endpoint, "error": str(exc), "error_class": type(exc).__name__},
        )
        with self._lock:
            self._up = False
            self._listing = self._listing.after(Failure.of(exc), now)
            self._fresh[LISTING] = True  # retry after the TTL, not on every scrape
            self._publish_locked()

    def _listed_state(self, old: CustomerState | None, customer: Customer) -> CustomerState:
        if old is None:
            # New, or known from the state file: its remembered successes apply once its jobs are fetched.
            return CustomerState(customer)
        return old if old.customer == customer else replace(old, customer=customer)

    def _guarded_refresh(self, config: Config, client: ApiClient, customer_id: str) -> None:
        """Refresh one customer; a bug or an unexpected error fails that customer alone, visibly."""
        try:
            self._refresh_customer(config, client, customer_id)
        except Exception:
            log.exception("refreshing customer failed unexpectedly", extra={"customer_id": customer_id})
            with self._lock:
                self._record_locked(
                    config.endpoints,
                    customer_id,
                    self._wall(),
                    jobs_error=INTERNAL,
                    protected_error=INTERNAL,
                )
                self._publish_locked()

    def _refresh_customer(self, config: Config, client: ApiClient, customer_id: str) -> None:
        # Each endpoint group on its own: a missing scope for one (403) must not hide the others.
        now = self._wall()
        jobs: tuple[Job, ...] | None = None
        protected: tuple[ProtectedData, ...] | None = None
        jobs_error = protected_error = None
        if config.endpoints.jobs:
            try:
                jobs = self._parse_jobs(config, self._fetch_jobs(config, client, customer_id), customer_id)
            except ApiError as exc:
                jobs_error = self._failed("refreshing customer failed, keeping its last good data", exc, customer_id)
        if config.endpoints.protected:
            try:
                protected = self._parse_protected(client.protected(customer_id), customer_id)
            except ApiError as exc:
                protected_error = self._failed(
                    "refreshing protected data failed, keeping the last good data", exc, customer_id
                )
        with self._lock:
            self._record_locked(
                config.endpoints,
                customer_id,
                now,
                jobs=jobs,
                jobs_error=jobs_error,
                protected=protected,
                protected_error=protected_error,
            )
            self._publish_locked()

    def _record_locked(
        self,
        enabled: EndpointsConfig,
        customer_id: str,
        now: float,
        *,
        jobs: tuple[Job, ...] | None = None,
        jobs_error: Failure | None = None,
        protected: tuple[ProtectedData, ...] | None = None,
        protected_error: Failure | None = None,
    ) -> None:
        """Store one customer's refresh: new data where it came, the attempt of each enabled group."""
        current = self._customers.get(customer_id)
        if current is None:  # dropped from the listing meanwhile
            return
        self._fresh[customer_id] = True
        changes: dict[str, Any] = {}
        if enabled.jobs:
            changes["attempt"] = current.attempt.after(jobs_error, now)
        if jobs is not None:
            seen: Mapping[ModuleKey, float] = self._remember_successes(customer_id, jobs)
            if jobs != current.jobs or seen != current.last_success:  # else keep the cached objects
                changes.update(jobs=jobs, last_success=seen)
        if enabled.protected:
            changes["protected_attempt"] = current.protected_attempt.after(protected_error, now)
        if protected is not None and protected != current.protected:
            changes["protected"] = protected
        self._customers[customer_id] = replace(current, **changes)

    @staticmethod
    def _fetch_jobs(config: Config, client: ApiClient, customer_id: str) -> list[Any]:
        """The job rows of one customer, at most `jobs.max_per_customer` of them (checked before parsing).

        One row is one job module, so this also bounds the series one customer can add: parsed and
        rendered, each costs some 8 KB, and a runaway answer must not take the memory of all customers.
        """
        if not config.jobs.select:
            return _bounded(config, client.jobs(customer_id))
        rows: list[Any] = []
        for sel in config.jobs.select:
            rows.extend(_bounded(config, client.jobs_for(customer_id, sel.job_type, sel.job_module), len(rows)))
        return rows

    @staticmethod
    def _failed(message: str, exc: ApiError, customer_id: str = "") -> Failure:
        log.warning(
            message,
            extra={
                "customer_id": customer_id,
                "endpoint": exc.endpoint,
                "error": str(exc),
                "error_class": type(exc).__name__,
            },
        )
        return Failure.of(exc)

    def _refresh_services(self, config: Config, client: ApiClient) -> None:
        now = self._wall()
        with self._lock:
            ids = sorted(self._customers)
        try:
            elements = client.services(ids)
        except ApiError as exc:
            error = self._failed("refreshing subscriptions failed, keeping the last good data", exc)
            with self._lock:
                self._services = self._services.after(error, now)
                self._fresh[SERVICES] = True
                self._publish_locked()
            return
        by_customer: dict[str, list[Subscription]] = {}
        for element in elements:
            subs, errors = parse.subscriptions(element) if isinstance(element, dict) else ([], ["services"])
            self._count_parse_errors(errors, subs[0].customer_id if subs else "")
            for sub in subs:
                by_customer.setdefault(sub.customer_id, []).append(sub)
        with self._lock:
            self._services = self._services.after(None, now)
            self._fresh[SERVICES] = True
            for cid, current in self._customers.items():
                kept = _unique_subscriptions(by_customer.get(cid, []))
                if kept != current.subscriptions:
                    self._customers[cid] = replace(current, subscriptions=kept)
            self._publish_locked()

    def _parse_protected(self, rows: list[Any], customer_id: str = "") -> tuple[ProtectedData, ...]:
        found: dict[tuple[str, str], ProtectedData] = {}
        for row in rows:
            item, errors = parse.protected(row) if isinstance(row, dict) else (None, ["protected"])
            if errors:
                where = {"service_type": item.service, "service_module": item.module} if item is not None else {}
                self._count_parse_errors(errors, customer_id, where)
            if item is not None:
                found.setdefault((item.service, item.module), item)  # a duplicate would repeat a series
        return tuple(found[key] for key in sorted(found))

    def _parse_jobs(self, config: Config, rows: list[Any], customer_id: str = "") -> tuple[Job, ...]:
        by_key: dict[tuple[str, str], Job] = {}
        for row in rows:
            job, errors = parse.job(row, config.jobs.status_outcomes) if isinstance(row, dict) else (None, ["job"])
            if errors:
                where = {"job_type": job.job_type, "job_module": job.job_module} if job is not None else {}
                self._count_parse_errors(errors, customer_id, where)
            if job is None:
                continue
            # Two rows for one module would make duplicate series; keep the newer one.
            other = by_key.get(job.key)
            if other is None or _newness(job) >= _newness(other):
                by_key[job.key] = job
        if rows and not by_key:
            # Rows, but not one usable: a broken answer, not a customer without jobs. Keep the last good data.
            raise ResponseFormatError(f"none of the {len(rows)} job rows is usable", endpoint=EP_JOBS)
        return tuple(sorted(by_key.values(), key=lambda j: j.key))

    def _count_parse_errors(
        self, fields: list[str], customer_id: str = "", where: Mapping[str, str] | None = None
    ) -> None:
        """Count every field; log it naming the customer and row (`where`: job type and module), rate-limited."""
        for name in fields:
            self._on_parse_error(name)
            now = self._clock()
            with self._parse_log_lock:
                if len(self._parse_log) >= _PARSE_LOG_KEYS:
                    self._parse_log.clear()
                entry = self._parse_log.get((customer_id, name))
                if entry is not None and now - entry[0] < PARSE_LOG_INTERVAL:
                    entry[1] += 1
                    continue
                suppressed = int(entry[1]) if entry is not None else 0
                self._parse_log[(customer_id, name)] = [now, 0]
            message = (
                "invalid API text repaired (lone surrogates and control characters replaced, or cut to length)"
                if isinstance(name, parse.Repaired)
                else "unparseable value left out"
            )
            log.warning(
                message,
                extra={"field": name, "customer_id": customer_id, **(where or {}), "suppressed": suppressed},
            )

    def _load_state(self, path: str, report: Callable[[bool, int], None]) -> None:
        # The path is fixed for the process: a file changed by a reload was never read, so writing it would
        # replace what it holds with what this process remembers.
        self._state_path = path
        self._report_state = report
        state.clean_temp_files(path)
        loaded = state.load(path, self._wall())
        # A file that exists but could not be read is never overwritten: it may hold every last-success
        # time there is, and a person can fix it. Until then nothing is saved (avepoint_state_file_ok 0).
        self._state_writable = loaded.readable
        for (cid, job_type, module), (ts, seen) in loaded.entries.items():
            # Entries written under the legacy spelling ("OneDrive for Business") belong to the canonical
            # series now; where both spellings were saved, the newer success (and sighting) wins.
            key = (codes.canonical_job_type(job_type), codes.canonical_job_module(module))
            memory, sightings = self._last_success.setdefault(cid, {}), self._last_seen.setdefault(cid, {})
            memory[key] = max(ts, memory.get(key, ts))
            sightings[key] = max(seen, sightings.get(key, seen))
        report(loaded.readable, loaded.skipped)
        self._state_skipped = loaded.skipped

    def _state_entries_locked(self, retention: float) -> dict[JobKey, state.Entry]:
        """Every remembered success and when its job was last exported; forgets those gone past `retention`."""
        now = self._wall()
        saving = bool(self._state_path) and self._state_writable  # else only forget, in memory
        out: dict[JobKey, state.Entry] = {}
        pruned = 0
        for cid, times in list(self._last_success.items()):
            seen = self._last_seen.setdefault(cid, {})
            current = self._customers.get(cid)
            if current is not None and current.last_success:
                # Exactly the exported jobs with a remembered success (see _remember_successes).
                seen.update(dict.fromkeys(current.last_success, now))
            gone = [key for key in times if now - seen.setdefault(key, now) > retention]
            for key in gone:
                del times[key], seen[key]
            pruned += len(gone)
            if not times:
                del self._last_success[cid]
                self._last_seen.pop(cid, None)
            elif saving:
                for key, ts in times.items():
                    out[(cid, *key)] = (ts, seen[key])
        if pruned:
            log.info("forgot last-success times of jobs not exported for state_retention", extra={"entries": pruned})
        return out

    def _save_state(self, entries: Mapping[JobKey, state.Entry]) -> None:
        if self._state_path and self._state_writable:
            self._report_state(state.save(self._state_path, entries), self._state_skipped)

    def _remember_successes(self, customer_id: str, jobs: tuple[Job, ...]) -> dict[ModuleKey, float]:
        """Record new successes; return the times of the modules in `jobs` (the ones to export)."""
        seen = self._last_success.setdefault(customer_id, {})
        for job in jobs:
            if job.outcome in SUCCESSFUL and job.end_time is not None and job.end_time > seen.get(job.key, 0.0):
                seen[job.key] = job.end_time
        return {job.key: seen[job.key] for job in jobs if job.key in seen}

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


def _bounded(config: Config, rows: list[Any], held: int = 0) -> list[Any]:
    limit = config.jobs.max_per_customer
    if held + len(rows) > limit:
        raise LimitExceeded(f"{held + len(rows)} job rows, more than {limit} (jobs.max_per_customer)", endpoint=EP_JOBS)
    return rows


def _unique_subscriptions(subs: list[Subscription]) -> tuple[Subscription, ...]:
    """One per (service, subscription name): a repeated pair would export duplicate series."""
    found: dict[tuple[str, str], Subscription] = {}
    for sub in subs:
        found.setdefault((sub.service, sub.subscription_name), sub)
    return tuple(found[key] for key in sorted(found))


def _outcome(job: Job, overrides: Mapping[str, Outcome]) -> Outcome:
    # As parse.job decides it: a module that never ran (no job id, no start time) is not_run whatever its status.
    if job.job_id is None and job.start_time is None:
        return Outcome.NOT_RUN
    return parse.outcome(job.status, overrides)


def _newness(job: Job) -> float:
    return job.last_modified or job.end_time or job.start_time or 0.0
