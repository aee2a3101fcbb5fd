"""Refresh slots: where in each TTL a customer is refreshed, so that a large fleet's requests come evenly.

Each customer has a phase in the TTL: the customers, ordered by a hash of their id, take evenly spaced
phases ((rank + 1/2) / count), so every tenth of the TTL holds a tenth of them, and a customer listed or gone
moves the others' phases by a share of 1/count of the TTL each, not more. Its slots are the times
epoch + phase * ttl + k * ttl on the refresher's clock. A customer refreshed at t stays fresh until its
next slot after t, at most a TTL later, so its data is never older than a TTL plus the wait for the next
tick and its own refresh. The first refresh of every customer comes at once (the first cycle after
start, bounded by the rate limiter); the epoch is then set to that cycle's end, so each customer's next
refresh comes in its slot of the TTL after it (at most a TTL plus that cycle after its first), and from
then on once per TTL: a TTL holds as many requests as without slots, only evenly spread.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Collection

# The cycle thread looks for customers whose slot has come at most this often (seconds), and at least
# 50 times per TTL: several looks per second keep per-second request counts even.
MAX_TICK = 0.25


@functools.lru_cache(maxsize=1 << 16)
def hashed(key: str) -> float:
    """A stable share in [0, 1) for `key`, independent of the shard hash (another hash, another person)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8, person=b"avepoint-slot").digest()
    return int.from_bytes(digest, "big") / 2**64


class Slots:
    """The phases of the customers listed: evenly spaced in hash order."""

    def __init__(self) -> None:
        self._phases: dict[str, float] = {}
        self.epoch = 0.0  # when phase 0 was, on the refresher's clock (the end of the last full refresh)

    def assign(self, ids: Collection[str]) -> None:
        """Take the customers now listed; a no-op when they are the same."""
        if self._phases.keys() == set(ids):
            return
        ordered = sorted(ids, key=lambda key: (hashed(key), key))
        # Half-way phases, so that no customer's slot sits on the TTL's start, where the first cycle was.
        self._phases = {key: (i + 0.5) / len(ordered) for i, key in enumerate(ordered)}

    def phase(self, key: str) -> float:
        """`key`'s share of the TTL in [0, 1); a key not (yet) assigned has its hash."""
        found = self._phases.get(key)
        return hashed(key) if found is None else found

    def until_slot(self, key: str, now: float, ttl: float) -> float:
        """Seconds from `now` to `key`'s next slot, in (0, ttl]."""
        left = (self.epoch + self.phase(key) * ttl - now) % ttl
        # Refreshed at its slot, give or take float noise: the next slot is a TTL on, not a rounding away.
        return left if left > ttl * 1e-9 else ttl


def tick(ttl: float) -> float:
    """How long the cycle thread sleeps between looks for due customers."""
    return min(MAX_TICK, ttl / 50)
