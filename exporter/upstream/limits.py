"""What requests may cost and how fast they may start: one request's budget, the big-answer gate, the rate limiter."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from exporter.config import ApiConfig
from exporter.errors import LimitExceeded

# An answer past this size waits for its turn (see Gate); a legitimate customer's is some 9 KB.
BIG_ANSWER = 2**20


class Budget:
    """What one logical request may still cost, all its pages together: decoded bytes, JSON values, pages, time.

    One per call of an endpoint method, so a paged list cannot add up to more than one maximal answer.
    """

    def __init__(self, api: ApiConfig, endpoint: str, clock: Callable[[], float]) -> None:
        self._api, self._endpoint, self._clock = api, endpoint, clock
        self.decoded_left = api.max_decoded_size
        self.values_left = api.max_json_values
        self.pages = 0
        self.deadline = clock() + api.paging_timeout

    def next_page(self) -> None:
        """Count one more page; refuse it past `api.max_pages` or `api.paging_timeout`."""
        api = self._api
        if self.pages >= api.max_pages:
            raise LimitExceeded(
                f"paging did not end after {api.max_pages} pages (api.max_pages)", endpoint=self._endpoint
            )
        if self.pages and self._clock() > self.deadline:
            raise LimitExceeded(
                f"paging did not end within {api.paging_timeout:g}s, after {self.pages} pages (api.paging_timeout)",
                endpoint=self._endpoint,
            )
        self.pages += 1

    def charge(self, body: bytearray, request_id: str | None) -> None:
        """Count the JSON values of `body` before json.loads builds them; refuse past `api.max_json_values`.

        Every value but the first of a container follows a comma, and every container opens with a
        bracket, so the count of those bytes bounds the values (strings holding them only overcount).
        Three bytes.count passes take some 40 ms for 32 MiB, a fraction of what json.loads would.
        """
        values = body.count(b",") + body.count(b"{") + body.count(b"[")
        if values > self.values_left:
            raise LimitExceeded(
                f"answer holds more than {self._api.max_json_values} JSON values (api.max_json_values)",
                endpoint=self._endpoint,
                request_id=request_id,
            )
        self.values_left -= values
        self.decoded_left -= len(body)


class Gate:
    """Lets one answer at a time grow past BIG_ANSWER, from its reading to the end of json.loads.

    The bounds of one answer (api.max_decoded_size, api.max_json_values) would otherwise be multiplied
    by api.max_concurrency: eight hostile answers at once cost eight times the memory one may. Small
    answers, nearly all of them, never wait.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._lock = threading.Lock()
        self._clock = clock

    @contextmanager
    def turn(self) -> Iterator[Callable[[], float]]:
        """A context for one attempt; calling what it yields waits for the turn, returning the seconds waited."""
        held = False

        def enter() -> float:
            nonlocal held
            if held:
                return 0.0
            started = self._clock()
            self._lock.acquire()
            held = True
            return self._clock() - started

        try:
            yield enter
        finally:
            if held:
                self._lock.release()


# The share of api.max_requests_per_second the limiter spaces starts at. Threads wake from their wait late by
# varying amounts (a loaded machine, the GIL), so starts due 1/rate apart can bunch: a start delayed by d
# seconds carries d * rate starts' worth into the next second. At 0.9 of the rate, a second holds
# 0.9 * rate * (1 + d) starts, within the rate for delays up to 0.11 s; at exactly the rate, the spread
# benchmark's 1,500 customers at 100/s saw 2 to 12 429s per three TTLs from a strict upstream, 0 at 0.9.
HEADROOM = 0.9


class RateLimiter:
    """Spaces request starts evenly, 1/(rate * headroom) seconds apart, so no second holds more than `rate`.

    No burst: `api.max_requests_per_second` is read as the upstream's limit, and an upstream that counts
    requests over a sliding second (as a strict one does) refuses every request past it. A burst of B on
    top of the rate would put up to rate + B - 1 starts into one second whenever the refresh runs at the
    limit, which it does when a large fleet catches up after falling behind (refresh slots), and at its
    first refresh.
    """

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        *,
        headroom: float = HEADROOM,
    ) -> None:
        self._interval = 1.0 / (rate * headroom)
        self._clock, self._sleep = clock, sleep
        self._next = -float("inf")  # the earliest start of the next request
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            start = max(self._next, now)
            self._next = start + self._interval
        if start > now:
            self._sleep(start - now)
