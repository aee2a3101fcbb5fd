"""Faults: the switches a test or benchmark flips, and the injector that turns them into failed answers."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from avepoint_simulator.answers import phrase


@dataclass
class Faults:
    """Switches read once per request, so tests and benchmarks may flip them while serving."""

    latency: float = 0.0  # seconds added to every data request
    token_latency: float = 0.0  # seconds added to every token request
    error_rate: float = 0.0  # share of data requests that fail at random
    timeout_sleep: float = 30.0  # how long a random "timeout" sleeps before answering
    status_override: int | None = None  # every data request answers this status
    html_errors: bool = False  # error bodies are a proxy's HTML page
    html_ok: bool = False  # 200 bodies of data routes are an HTML page
    truncated: bool = False  # 200 bodies of data routes are cut in half
    rate_limit_burst: int | None = None  # data requests allowed per second, then 429
    # Data requests allowed per second per client (access token), over a sliding second, then 429 (with
    # Retry-After when retry_after is set). AvePoint documents the status, not its numbers or headers:
    # docs/elements/Use-AvePoint-Graph-API.md, "429 Too Many Requests - The client has exceeded the rate
    # limit defined by the server" (see the README's open questions).
    rate_limit: float | None = None
    retry_after: int | None = None  # Retry-After seconds on 429 (burst, override) and 503
    token_ttl: int = 3600  # expires_in of new tokens; they really expire then
    token_status: int | None = None  # the token endpoint answers this status
    failing_customers: set[str] = field(default_factory=set)  # their routes answer 500
    forbidden_customers: set[str] = field(default_factory=set)  # their routes answer 403
    forbidden_routes: set[str] = field(default_factory=set)  # these route templates answer 403, for every customer
    v3_total_count_offset: int = 0  # v3 metadata.totalCount claims this many more rows than exist
    v3_stuck_page_index: bool = False  # v3 paging ignores pageIndex: page 1, forever
    v3_page_cap: int | None = None  # v3 pages hold at most this many rows, whatever pageSize asks


class Injected(NamedTuple):
    """The error a fault answers a data request with, instead of the service."""

    status: int
    message: str
    headers: tuple[tuple[str, str], ...] = ()


# A random "timeout": the request sleeps `timeout_sleep`, then is served as usual.
TIMEOUT: Final = Injected(0, "timeout")


def retry_after(status: int, faults: Faults) -> tuple[tuple[str, str], ...]:
    if faults.retry_after is not None and status in (429, 503):
        return (("Retry-After", str(faults.retry_after)),)
    return ()


class Injector:
    """The state faults need between requests: the random draws of `error_rate` and the burst window."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._burst: deque[float] = deque()
        self._per_client: dict[str, deque[float]] = {}

    def before_data(self, faults: Faults, client: str = "") -> Injected | None:
        """What a gateway or proxy answers before the service sees the request (or TIMEOUT), if anything.

        `client` tells callers apart for `rate_limit`: the Authorization header, one token per client.
        """
        if faults.rate_limit_burst is not None and self._rate_limited(faults.rate_limit_burst):
            return Injected(429, "Too many requests", retry_after(429, faults))
        if faults.rate_limit is not None and self._client_limited(client, faults.rate_limit):
            return Injected(429, "Too many requests", retry_after(429, faults))
        if faults.status_override is not None:
            status = faults.status_override
            return Injected(status, phrase(status), retry_after(status, faults))
        if faults.error_rate > 0:
            with self._lock:
                failing = self._rng.random() < faults.error_rate
                kind = self._rng.randrange(7) if failing else -1
            if 0 <= kind <= 3:
                status = (500, 502, 503, 504)[kind]
                return Injected(status, phrase(status))
            if kind == 4:
                return Injected(429, "Too many requests", (("Retry-After", "1"),))
            if kind == 5:
                return Injected(429, "Too many requests")
            if kind == 6:
                return TIMEOUT
        return None

    def _client_limited(self, client: str, rate: float) -> bool:
        # A sliding second per client, as _rate_limited; a refused request does not count against the limit.
        now = time.monotonic()
        allowed = max(int(rate), 1)
        with self._lock:
            window = self._per_client.setdefault(client, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= allowed:
                return True
            window.append(now)
            if len(self._per_client) > 10_000:  # clients that went away: forget the idle ones
                for key in [k for k, w in self._per_client.items() if not w or w[-1] <= now - 1.0]:
                    del self._per_client[key]
            return False

    def _rate_limited(self, burst: int) -> bool:
        # Real seconds, not the injectable clock: a test that freezes the fleet's clock
        # must not freeze the rate limiter's window too.
        now = time.monotonic()
        with self._lock:
            while self._burst and self._burst[0] <= now - 1.0:
                self._burst.popleft()
            if len(self._burst) >= burst:
                return True
            self._burst.append(now)
            return False
