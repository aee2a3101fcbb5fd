"""Sharding: which customers this replica owns, by a stable hash of the customer id."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from exporter.errors import ConfigError

_ORDINAL = re.compile(r"-(\d+)$")


@dataclass(frozen=True, slots=True)
class Shard:
    index: int = 0
    count: int = 1

    def owns(self, customer_id: str) -> bool:
        if self.count == 1:
            return True
        # SHA-256, not hash(): Python salts str hashes per process, and every replica must agree.
        digest = hashlib.sha256(customer_id.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index


def resolve(index: int | None, count: int, hostname: str) -> Shard:
    """The shard from the flags; without --shard.index, from a StatefulSet pod name such as `name-3`."""
    if count < 1:
        raise ConfigError(f"--shard.count: must be at least 1, not {count}")
    if index is None:
        if count == 1:
            return Shard()
        match = _ORDINAL.search(hostname)
        if match is None:
            raise ConfigError(
                f"--shard.index: not given, and the host name {hostname!r} does not end in -<ordinal> "
                "as StatefulSet pod names do"
            )
        index = int(match.group(1))
    if not 0 <= index < count:
        raise ConfigError(f"--shard.index: must be between 0 and {count - 1}, not {index}")
    return Shard(index, count)
