"""The exposition kept encoded and compressed: per-customer fragments, re-encoded only when they change.

prometheus_client's `generate_latest` takes over a second per 100,000 samples here, and a large fleet
has hundreds of thousands. So the exposition is built from per-customer fragments (text.py), each encoded
once when that customer's data changes, and compressed in blocks of a few customers: every block is its
own run of deflate blocks, cut at a full flush (the technique of pigz and gzip --rsyncable, see
deflate.py), so the gzip body is the blocks' compressed bytes concatenated. A change of one customer
re-encodes that customer and recompresses its block only.

OpenMetrics shares every sample run with the classic format (the sample lines are the same): only the
family headers differ, and they are fixed, so the OpenMetrics view of a snapshot is the same compressed
runs joined with other compressed headers, built the first time a client asks for it.
"""

from __future__ import annotations

import functools
import threading
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from exporter import safe
from exporter.config import EndpointsConfig, JobsConfig
from exporter.exposition import deflate
from exporter.exposition.families import FAMILIES, JOB_FAMILIES, Family
from exporter.exposition.text import customer_lines, global_lines, header, job_lines, openmetrics_header
from exporter.model import CustomerState, Job, ModuleKey, Runs, Snapshot

# Customers are compressed in blocks of this many: large enough for deflate to find the label sets that
# repeat from customer to customer (a block per customer doubled the gzip size), small enough that one
# changed customer costs a few milliseconds.
BLOCK = 16


class _Piece:
    """Encoded text of one fragment, per family. Compared by identity: a changed fragment is a new piece."""

    __slots__ = ("plain",)

    def __init__(self, lines: Mapping[Family, str]) -> None:
        # safe.encode: text that cannot be encoded costs a U+FFFD in this fragment, never the exposition.
        self.plain = {family: safe.encode(text) for family, text in lines.items()}


def _deflate(pieces: tuple[_Piece, ...], families: tuple[Family, ...]) -> dict[Family, tuple[bytes, bytes]]:
    """Per family: the pieces' text joined, and its compressed run (see exporter.exposition.deflate)."""
    compressor = deflate.Compressor()
    out = {}
    for family in families:
        data = b"".join(piece.plain.get(family, b"") for piece in pieces)
        if data:
            out[family] = (data, compressor.part(data))
    return out


def _headers(encode: Callable[[Family], bytes]) -> dict[Family, tuple[bytes, bytes]]:
    return {family: _deflate((_Piece({family: encode(family).decode()}),), (family,))[family] for family in FAMILIES}


_HEADERS = _headers(header)
_OPENMETRICS_HEADERS = _headers(openmetrics_header)
# Per family in exposition order, the runs of its samples: (text, compressed) from each block that has any.
Layout = tuple[tuple[Family, tuple[tuple[bytes, bytes], ...]], ...]
_SMALL = tuple(f for f in FAMILIES if f not in JOB_FAMILIES)


@dataclass(frozen=True)
class Exposition:
    """The encoded data families of one snapshot: text parts in order, and the same text deflated."""

    generation: int
    parts: tuple[bytes, ...]
    deflated: bytes  # gzip header and compressed runs, without the end of the stream
    crc: int  # CRC-32 of the text
    size: int
    layout: Layout = ()  # the sample runs, kept to build the other format's view from

    @functools.cached_property
    def openmetrics(self) -> Exposition:
        """The same samples with OpenMetrics headers; without `# EOF`, which ends the live part after it."""
        return _assemble(self.generation, self.layout, _OPENMETRICS_HEADERS)

    @functools.cached_property
    def body(self) -> bytes:
        # Joined only when a client asks for plain text; Prometheus asks for gzip.
        return b"".join(self.parts)

    def gzip_with(self, tail: bytes) -> tuple[bytes, ...]:
        """A complete gzip stream of the text followed by `tail` (the per-scrape metrics), as parts."""
        crc = deflate.crc32_combine(self.crc, zlib.crc32(tail), len(tail))
        return (self.deflated, deflate.compress(tail), deflate.FINAL, deflate.trailer(crc, self.size + len(tail)))

    @property
    def gzipped(self) -> bytes:
        return b"".join(self.gzip_with(b""))


def _assemble(generation: int, layout: Layout, headers: Mapping[Family, tuple[bytes, bytes]]) -> Exposition:
    plain: list[bytes] = []
    packed: list[bytes] = [deflate.HEADER]
    for family, runs in layout:
        header_plain, header_packed = headers[family]
        plain.append(header_plain)
        packed.append(header_packed)
        for text, compressed in runs:
            plain.append(text)
            packed.append(compressed)
    crc, size = deflate.crc32(plain), sum(map(len, plain))
    return Exposition(generation, tuple(plain), b"".join(packed), crc, size, layout)


@dataclass(slots=True)
class _CustomerCache:
    small_key: tuple[object, ...]
    small: _Piece
    jobs: tuple[Job, ...]
    last_success: Mapping[ModuleKey, float]
    runs: Mapping[ModuleKey, Runs]
    jobs_cfg: JobsConfig
    large: _Piece


class ExpositionCache:
    """Builds the exposition once per snapshot generation, re-encoding only the customers that changed.

    The refresh state of every customer changes with every cycle, its jobs rarely: the two are encoded
    and compressed apart, so a cycle that changes no job recompresses only the small families.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Exposition | None = None
        self._customers: dict[str, _CustomerCache] = {}
        self._blocks: dict[tuple[_Piece, ...], dict[Family, tuple[bytes, bytes]]] = {}
        self.rebuilt_customers = 0  # customers re-encoded by the last build (for tests and benchmarks)
        self.recompressed_blocks = 0

    def get(self, snap: Snapshot) -> Exposition:
        with self._lock:
            current = self._current
            if current is None or current.generation != snap.generation:
                current = self._current = self._build(snap)
            return current

    def _build(self, snap: Snapshot) -> Exposition:
        jobs_cfg = snap.config.jobs
        fresh: dict[str, _CustomerCache] = {}
        rebuilt = 0
        for cs in snap.customers:
            old = self._customers.get(cs.customer.id)
            entry = self._refreshed(old, cs, jobs_cfg, snap.config.endpoints)
            rebuilt += entry is not old
            fresh[cs.customer.id] = entry
        self._customers = fresh  # customers gone from the snapshot leave the cache
        self.rebuilt_customers = rebuilt

        entries = list(fresh.values())
        groups = [(_deflate((_Piece(global_lines(snap)),), FAMILIES), FAMILIES)]
        blocks: dict[tuple[_Piece, ...], dict[Family, tuple[bytes, bytes]]] = {}
        recompressed = 0
        for i in range(0, len(entries), BLOCK):
            members = entries[i : i + BLOCK]
            for key, families in (
                (tuple(e.small for e in members), _SMALL),
                (tuple(e.large for e in members), JOB_FAMILIES),
            ):
                block = self._blocks.get(key)
                if block is None:
                    block = _deflate(key, families)
                    recompressed += 1
                blocks[key] = block
                groups.append((block, families))
        self._blocks = blocks
        self.recompressed_blocks = recompressed

        layout = tuple(
            (family, present)
            for family in FAMILIES
            # no samples: no header either
            if (present := tuple(part for block, _ in groups if (part := block.get(family)) is not None))
        )
        return _assemble(snap.generation, layout, _HEADERS)

    @staticmethod
    def _refreshed(
        old: _CustomerCache | None, cs: CustomerState, jobs_cfg: JobsConfig, endpoints: EndpointsConfig
    ) -> _CustomerCache:
        cid = cs.customer.id
        small_key = (
            cs.customer,
            cs.attempt,
            cs.protected_attempt,
            cs.protected,
            cs.subscriptions,
            cs.scan_profiles_attempt,
            cs.scan_profiles,
            cs.seats,
            cs.seats_attempt,
            endpoints,
        )
        if old is None:
            return _CustomerCache(
                small_key,
                _Piece(customer_lines(cs, endpoints)),
                cs.jobs,
                cs.last_success,
                cs.runs,
                jobs_cfg,
                _Piece(job_lines(cid, cs.jobs, cs.last_success, jobs_cfg, cs.runs)),
            )
        small, large = old.small, old.large
        same_small = old.small_key == small_key
        # Identity first: the refresher keeps the same objects when nothing changed, so this is cheap.
        same_large = (
            (old.jobs is cs.jobs or old.jobs == cs.jobs)
            and (old.last_success is cs.last_success or old.last_success == cs.last_success)
            # The run counts change only when a run is counted, so they are cached with the jobs.
            and (old.runs is cs.runs or old.runs == cs.runs)
            and (old.jobs_cfg is jobs_cfg or old.jobs_cfg == jobs_cfg)
        )
        if same_small and same_large:
            return old
        if not same_small:
            small = _Piece(customer_lines(cs, endpoints))
        if not same_large:
            large = _Piece(job_lines(cid, cs.jobs, cs.last_success, jobs_cfg, cs.runs))
        return _CustomerCache(small_key, small, cs.jobs, cs.last_success, cs.runs, jobs_cfg, large)
