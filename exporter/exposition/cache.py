"""The exposition kept compressed only: per-block deflate runs, recompressed only when a member changes.

prometheus_client's `generate_latest` takes over a second per 100,000 samples here, and a large fleet
has hundreds of thousands. So the exposition is built from per-customer fragments (text.py), compressed
in blocks of a few customers: every block is its own run of deflate blocks per family, cut at a full
flush (the technique of pigz and gzip --rsyncable, see deflate.py), so the gzip body is the blocks'
compressed bytes concatenated. A change of one customer recompresses its block only.

No text is kept: the sample text is 2 to 3 KB per job, twenty times its compressed size, and Prometheus
asks for gzip. A block's text is made again from its members' records when one of them changes, and a
client that asks for plain text gets the compressed stream decompressed as it is sent. Each run keeps
its text's CRC-32 and length, which is all the gzip trailer needs. The runs live in one buffer, the
joined stream of the latest generation, as views of it: the compressed bytes are held once.

OpenMetrics shares every sample run with the classic format (the sample lines are the same): only the
family headers differ, and they are fixed, so the OpenMetrics view of a snapshot is the same compressed
runs joined with other compressed headers, built the first time a client asks for it.
"""

from __future__ import annotations

import functools
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
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
# Plain text is decompressed for the client in steps of this much compressed input (about 1 MiB of text).
PLAIN_STEP = 64 * 1024

# One family's samples of one block: the compressed run, and its text's CRC-32 and length.
Run = tuple[bytes | memoryview, int, int]
Block = dict[Family, Run]
# Per family in exposition order, the runs of its samples from each block that has any.
Layout = tuple[tuple[Family, tuple[Run, ...]], ...]
_SMALL = tuple(f for f in FAMILIES if f not in JOB_FAMILIES)


def _compress(fragments: Iterable[Mapping[Family, str]], families: tuple[Family, ...]) -> Block:
    """Per family, the fragments' text joined and compressed (its own run, see exporter.exposition.deflate)."""
    texts: dict[Family, list[str]] = {}
    for fragment in fragments:
        for family, text in fragment.items():
            texts.setdefault(family, []).append(text)
    compressor = deflate.Compressor()
    out: Block = {}
    for family in families:
        if family in texts:
            # safe.encode: text that cannot be encoded costs a U+FFFD, never the exposition.
            data = safe.encode("".join(texts[family]))
            if data:
                out[family] = (compressor.part(data), zlib.crc32(data), len(data))
    return out


def _headers(encode: Callable[[Family], bytes]) -> dict[Family, Run]:
    return {family: _compress(({family: encode(family).decode()},), (family,))[family] for family in FAMILIES}


_HEADERS = _headers(header)
_OPENMETRICS_HEADERS = _headers(openmetrics_header)


@dataclass(frozen=True)
class Exposition:
    """The encoded data families of one snapshot, deflated; the text only on demand."""

    generation: int
    deflated: bytes  # gzip header and compressed runs, without the end of the stream
    crc: int  # CRC-32 of the text
    size: int  # length of the text
    layout: Layout = ()  # the sample runs, kept to build the other format's view from

    @functools.cached_property
    def openmetrics(self) -> Exposition:
        """The same samples with OpenMetrics headers; without `# EOF`, which ends the live part after it."""
        return _assemble(self.generation, self.layout, _OPENMETRICS_HEADERS)[0]

    def plain(self) -> Iterator[bytes]:
        """The text, decompressed step by step as it is sent: never all of it in memory at once."""
        inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        packed = memoryview(self.deflated)[len(deflate.HEADER) :]
        for start in range(0, len(packed), PLAIN_STEP):
            text = inflate.decompress(packed[start : start + PLAIN_STEP])
            if text:
                yield text

    @property
    def body(self) -> bytes:
        """The whole text at once (tests and small fleets; the web layer streams `plain()`)."""
        return b"".join(self.plain())

    def gzip_with(self, tail: bytes) -> tuple[bytes, ...]:
        """A complete gzip stream of the text followed by `tail` (the per-scrape metrics), as parts."""
        crc = deflate.crc32_combine(self.crc, zlib.crc32(tail), len(tail))
        return (self.deflated, deflate.compress(tail), deflate.FINAL, deflate.trailer(crc, self.size + len(tail)))

    @property
    def gzipped(self) -> bytes:
        return b"".join(self.gzip_with(b""))


def _assemble(generation: int, layout: Layout, headers: Mapping[Family, Run]) -> tuple[Exposition, dict[int, Run]]:
    """The exposition of `layout` under `headers`, and each run (by id) as a view of its joined stream."""
    packed: list[bytes | memoryview] = [deflate.HEADER]
    crc = size = 0
    for family, runs in layout:
        for data, run_crc, length in (headers[family], *runs):
            packed.append(data)
            crc = deflate.crc32_combine(crc, run_crc, length)
            size += length
    joined = b"".join(packed)
    del packed
    views: dict[int, Run] = {}
    offset, whole = len(deflate.HEADER), memoryview(joined)
    for family, runs in layout:
        offset += len(headers[family][0])
        for run in runs:
            views[id(run)] = (whole[offset : offset + len(run[0])], run[1], run[2])
            offset += len(run[0])
    return Exposition(generation, joined, crc, size, layout), views


class _Version:
    """Marks one version of a customer's small or job families: blocks are keyed by their members' marks."""

    __slots__ = ()


@dataclass(slots=True)
class _CustomerCache:
    state: CustomerState  # what the marks stand for: the block's text is made again from it
    small_key: tuple[object, ...]
    small: _Version
    jobs: tuple[Job, ...]
    last_success: Mapping[ModuleKey, float]
    runs: Mapping[ModuleKey, Runs]
    jobs_cfg: JobsConfig
    large: _Version


class ExpositionCache:
    """Builds the exposition once per snapshot generation, recompressing only the blocks that changed.

    The refresh state of every customer changes with every cycle, its jobs rarely: the two are encoded
    and compressed apart, so a cycle that changes no job recompresses only the small families.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Exposition | None = None
        self._customers: dict[str, _CustomerCache] = {}
        self._blocks: dict[tuple[_Version, ...], Block] = {}
        self.rebuilt_customers = 0  # customers whose data changed in the last build (for tests and benchmarks)
        self.recompressed_blocks = 0

    def get(self, snap: Snapshot) -> Exposition:
        with self._lock:
            current = self._current
            if current is None or current.generation != snap.generation:
                # The old exposition goes first: its buffer is no longer needed while the new one is joined.
                self._current = None
                current = self._current = self._build(snap)
            return current

    def _build(self, snap: Snapshot) -> Exposition:
        jobs_cfg, endpoints = snap.config.jobs, snap.config.endpoints
        fresh: dict[str, _CustomerCache] = {}
        rebuilt = 0
        for cs in snap.customers:
            old = self._customers.get(cs.customer.id)
            entry = self._refreshed(old, cs, jobs_cfg, endpoints)
            rebuilt += old is None or entry.small is not old.small or entry.large is not old.large
            fresh[cs.customer.id] = entry
        self._customers = fresh  # customers gone from the snapshot leave the cache
        self.rebuilt_customers = rebuilt

        entries = list(fresh.values())
        groups: list[Block] = [_compress((global_lines(snap),), FAMILIES)]
        blocks: dict[tuple[_Version, ...], Block] = {}
        recompressed = 0
        for i in range(0, len(entries), BLOCK):
            members = entries[i : i + BLOCK]
            small_key = tuple(e.small for e in members)
            large_key = tuple(e.large for e in members)
            small = self._blocks.get(small_key)
            if small is None:
                small = _compress((customer_lines(e.state, endpoints) for e in members), _SMALL)
                recompressed += 1
            large = self._blocks.get(large_key)
            if large is None:
                large = _compress(
                    (job_lines(e.state.customer.id, e.jobs, e.last_success, jobs_cfg, e.runs) for e in members),
                    JOB_FAMILIES,
                )
                recompressed += 1
            blocks[small_key], blocks[large_key] = small, large
            groups += (small, large)
        self.recompressed_blocks = recompressed
        self._blocks = {}  # the old views go before the new stream is joined

        layout = tuple(
            (family, present)
            for family in FAMILIES
            # no samples: no header either
            if (present := tuple(run for block in groups if (run := block.get(family)) is not None))
        )
        del groups
        exposition, views = _assemble(snap.generation, layout, _HEADERS)
        # Every run kept from now on is a view of the new stream: the compressed bytes are held once.
        self._blocks = {key: {f: views[id(run)] for f, run in block.items()} for key, block in blocks.items()}
        layout = tuple((family, tuple(views[id(run)] for run in runs)) for family, runs in layout)
        return Exposition(exposition.generation, exposition.deflated, exposition.crc, exposition.size, layout)

    @staticmethod
    def _refreshed(
        old: _CustomerCache | None, cs: CustomerState, jobs_cfg: JobsConfig, endpoints: EndpointsConfig
    ) -> _CustomerCache:
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
            return _CustomerCache(cs, small_key, _Version(), cs.jobs, cs.last_success, cs.runs, jobs_cfg, _Version())
        # Identity first: the refresher keeps the same objects when nothing changed, so this is cheap.
        same_small = old.small_key == small_key
        same_large = (
            (old.jobs is cs.jobs or old.jobs == cs.jobs)
            and (old.last_success is cs.last_success or old.last_success == cs.last_success)
            # The run counts change only when a run is counted, so they are cached with the jobs.
            and (old.runs is cs.runs or old.runs == cs.runs)
            and (old.jobs_cfg is jobs_cfg or old.jobs_cfg == jobs_cfg)
        )
        if same_small and same_large and old.state is cs:
            return old
        # The entry follows the snapshot's objects, so that an equal old copy is not kept alive beside them.
        return _CustomerCache(
            cs,
            small_key,
            old.small if same_small else _Version(),
            cs.jobs,
            cs.last_success,
            cs.runs,
            jobs_cfg,
            old.large if same_large else _Version(),
        )
