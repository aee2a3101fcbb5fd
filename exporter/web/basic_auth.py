"""Basic auth: bcrypt checks, the caches that spare them, and the limits that keep guessers from starving scrapers."""

from __future__ import annotations

import base64
import binascii
import enum
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping

import bcrypt

from exporter.config import Secret

REALM = "avepoint-backup-exporter"
CHALLENGE = f'Basic realm="{REALM}"'
# Successful (user, password) checks remembered so a scrape does not pay bcrypt every time.
AUTH_CACHE_SIZE = 64
# Failed ones, so that repeating a wrong password (a scraper with a stale secret, a flood) costs no bcrypt.
FAILURE_CACHE_SIZE = 1024
BCRYPT_MAX_PASSWORD = 72  # bytes
# Checks waiting for bcrypt at once, over all clients. Past it a new check is answered 429 at once: a
# waiting check holds a connection, and a queue of guesses must not fill web.max_connections.
MAX_PENDING_CHECKS = 4
# The window of web.auth_failures_per_minute, and how many client addresses are tracked in it.
FAILURE_WINDOW = 60.0
TRACKED_CLIENTS = 4096


class Verdict(enum.Enum):
    OK = "ok"
    DENIED = "denied"  # 401
    THROTTLED = "throttled"  # 429: not checked, too many failures or checks from this address


class BasicAuth:
    """Checks `Authorization: Basic` against bcrypt hashes; unknown users cost as much as wrong passwords.

    bcrypt is slow on purpose, which makes it a lever for a denial of service: 80 connections sending
    wrong passwords once kept every connection slot waiting for it, and Prometheus' scrapes, with the
    right password, never got through. So:
    - a password seen before (right or wrong) is answered from a keyed-digest cache, without bcrypt;
    - one client address has at most one check running or waiting, and at most
      `failures_per_minute` failed checks per minute; past either it gets 429 without a check;
    - at most MAX_PENDING_CHECKS checks wait at once, over all addresses; past it, 429;
    - a check waiting for its turn gives up when the server cuts its connection (to make room).
    A scraper that shares its address with a guesser (same host, or behind the same proxy) can still
    get 429 for its first check; once its password is cached it is never checked again.
    """

    def __init__(
        self,
        users: Mapping[str, Secret],
        dummy_hash: bytes,
        failures_per_minute: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users = {name: hashed.get().encode() for name, hashed in users.items()}
        self._dummy = dummy_hash
        self.failures_per_minute = failures_per_minute
        self._clock = clock
        # The caches hold HMACs under a key that lives only in this process, never a password.
        self._key = secrets.token_bytes(32)
        self._ok: OrderedDict[bytes, None] = OrderedDict()
        self._failed: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()  # client -> times of failed checks
        self._checking: set[str] = set()  # clients with a check running or waiting
        self._pending = 0
        # One check at a time keeps a flood of guesses to one core.
        self._bcrypt_lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._users)

    def check(self, authorization: str | None, client: str = "") -> bool:
        return self.verdict(authorization, client) is Verdict.OK

    def retry_after(self, client: str) -> int:
        """Seconds until `client` may be checked again (for a 429's Retry-After)."""
        with self._lock:
            times = self._failures.get(client)
            if times and len(times) >= self.failures_per_minute:
                return max(1, math.ceil(times[0] + FAILURE_WINDOW - self._clock()))
        return 1

    def verdict(self, authorization: str | None, client: str = "", cancelled: Callable[[], bool] = bool) -> Verdict:
        """Check the header; `cancelled()` true means the connection is gone and a waiting check may stop."""
        credentials = _credentials(authorization)
        if credentials is None:
            return Verdict.DENIED  # nothing to check, nothing spent
        user, password = credentials
        stored = self._users.get(user)
        hashed = stored if stored is not None else self._dummy
        mac = hmac.new(self._key, digestmod="sha256")
        for part in (user.encode(), hashed, password):
            mac.update(len(part).to_bytes(4, "big") + part)
        key = mac.digest()
        with self._lock:
            if stored is not None and key in self._ok:
                self._ok.move_to_end(key)
                return Verdict.OK
            if key in self._failed:
                self._failed.move_to_end(key)
                return Verdict.DENIED
            if (
                client in self._checking
                or self._pending >= MAX_PENDING_CHECKS
                or self._recent_failures_locked(client) >= self.failures_per_minute
            ):
                return Verdict.THROTTLED
            self._checking.add(client)
            self._pending += 1
        try:
            ok = self._verify(password, hashed, cancelled)
        finally:
            with self._lock:
                self._checking.discard(client)
                self._pending -= 1
        if ok is None:
            return Verdict.DENIED  # gave up waiting: the connection is gone anyway
        ok = ok and stored is not None
        with self._lock:
            if ok:
                _remember(self._ok, key, AUTH_CACHE_SIZE)
            else:
                _remember(self._failed, key, FAILURE_CACHE_SIZE)
                self._failures.setdefault(client, deque()).append(self._clock())
                self._failures.move_to_end(client)
                while len(self._failures) > TRACKED_CLIENTS:
                    self._failures.popitem(last=False)
        return Verdict.OK if ok else Verdict.DENIED

    def _recent_failures_locked(self, client: str) -> int:
        times = self._failures.get(client)
        if times is None:
            return 0
        horizon = self._clock() - FAILURE_WINDOW
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[client]
        return len(times)

    def _verify(self, password: bytes, hashed: bytes, cancelled: Callable[[], bool]) -> bool | None:
        while not self._bcrypt_lock.acquire(timeout=0.05):
            if cancelled():
                return None
        try:
            if len(password) > BCRYPT_MAX_PASSWORD:
                # bcrypt refuses these: never a match, but it costs what a wrong password costs.
                bcrypt.checkpw(b"", self._dummy)
                return False
            return bcrypt.checkpw(password, hashed)
        finally:
            self._bcrypt_lock.release()


def _remember(cache: OrderedDict[bytes, None], key: bytes, size: int) -> None:
    cache[key] = None
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)


def _credentials(authorization: str | None) -> tuple[str, bytes] | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = raw.partition(b":")
    if not sep:
        return None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None


__all__ = ["CHALLENGE", "REALM", "BasicAuth", "Verdict"]
