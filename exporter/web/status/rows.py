"""The status page's rows kept from one build to the next: a customer's Row is built again only when its state,
the config or its staleness changed, so a build after k of n customers changed costs k rows and a sort. Pure.

What this relies on: the refresher replaces a customer's CustomerState object whenever anything of it changes
(refresh/customer.py's `applied`, refresher.py's listing, outcome remapping and subscriptions all `replace()`
it; the objects are frozen and their mappings are new dicts per refresh, never changed in place), and keeps the
same object otherwise. So a customer whose state *is* the one its kept Row was built from has the same data;
what a Row shows depends besides only on the config (endpoints, expected intervals) and, through its cells'
staleness and its scan profiles' silence, on the time: ages are not in the Row (view.py; the renderers compute
them from Status.generated). Each kept Row carries the times between which that staleness holds; outside
them it is built again. The result is exactly view.build() at the same time (tests/unit/web/test_status_rows.py).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import NamedTuple

from exporter.config import Config
from exporter.model import CustomerState, Snapshot
from exporter.web.status import paging, view
from exporter.web.status.scan_profiles import SILENT_SECONDS
from exporter.web.status.view import STALE_FACTOR, Process, Row, Status

# A flip time computed as `last + allowed` can differ from where view's own test (max(0, now - last) > allowed)
# flips by a rounding error (a few ulps, 1e-16 relative): within this margin (relative, plus a nanosecond) of a
# flip a Row is never trusted but built again, which costs one row and cannot be wrong.
_MARGIN = 1e-12


class _Kept(NamedTuple):
    state: CustomerState  # the object the row was built from (identity is what counts)
    row: Row
    key: tuple[int, str, str]  # view.order(row)
    haystack: str  # paging.haystack(row): what the filter searches
    after: float  # the row holds for times strictly between `after` and `until`
    until: float


class RowCache:
    """The Rows of the last build, one per current customer; `build` gives what view.build would."""

    def __init__(self, build_row: Callable[[CustomerState, Snapshot, float], Row] = view.row) -> None:
        self._build_row = build_row
        self._config: Config | None = None
        self._kept: dict[str, _Kept] = {}
        self._columns: Counter[tuple[str, str]] = Counter()  # the kept rows' (job type, module) pairs, counted
        self.haystacks: tuple[str, ...] = ()  # of the last build's rows, in their order
        self.built = 0  # rows built by the last build
        self.reused = 0  # rows kept from the one before

    def __len__(self) -> int:
        return len(self._kept)

    def build(self, snap: Snapshot, process: Process, now: float) -> Status:
        if snap.config is not self._config:
            # Another config (a reload): what every row shows may differ (endpoints, intervals), so none is kept.
            self._kept, self._columns = {}, Counter()
            self._config = snap.config
        old = self._kept
        kept: dict[str, _Kept] = {}  # only the snapshot's customers: those gone are forgotten
        entries = []
        fresh = []
        for cs in snap.customers:
            entry = old.get(cs.customer.id)
            if entry is None or entry.state is not cs or not entry.after < now < entry.until:
                row = self._build_row(cs, snap, now)
                entry = _Kept(cs, row, view.order(row), paging.haystack(row), *window(row))
                fresh.append(entry)
            kept.setdefault(cs.customer.id, entry)
            entries.append(entry)
        self.built, self.reused = len(fresh), len(entries) - len(fresh)
        columns: Iterable[tuple[str, str]]
        if len(kept) == len(entries):
            # The columns counted as rows come and go: only the changed rows' cells are looked at.
            for cid, entry in old.items():
                if kept.get(cid) is not entry:
                    self._columns.subtract(_pairs(entry.row))
            for entry in fresh:
                self._columns.update(_pairs(entry.row))
            self._columns = +self._columns  # without the pairs no row has any more
            self._kept, columns = kept, self._columns.keys()
        else:
            # An id twice: not a refresher's snapshot (it holds customers by id). Nothing is kept from it.
            self._kept, self._columns = {}, Counter()
            columns = {pair for entry in entries for pair in _pairs(entry.row)}
        entries.sort(key=attrgetter("key"))  # stable, as view.build's sort over the same order of customers
        self.haystacks = tuple(entry.haystack for entry in entries)
        return view.assemble(snap, process, now, tuple(entry.row for entry in entries), columns)


def _pairs(row: Row) -> Iterable[tuple[str, str]]:
    return ((cell.job_type, cell.job_module) for cell in row.cells)


def window(row: Row) -> tuple[float, float]:
    """The times strictly between which `row`'s staleness (and so its health, reasons and order) holds."""
    after, until = -math.inf, math.inf
    for cell in row.cells:
        # As view._cell: stale past STALE_FACTOR expected intervals since the last success.
        flip = _flip(cell.last_success, STALE_FACTOR * cell.expected_interval)
        if flip is not None:
            after, until = (max(after, flip[1]), until) if cell.stale else (after, min(until, flip[0]))
    for scan in row.scan_profiles:
        # As scan_profiles.cells: silent past SILENT_SECONDS since the last daily report.
        flip = _flip(scan.last_update, SILENT_SECONDS)
        if flip is not None:
            after, until = (max(after, flip[1]), until) if scan.silent else (after, min(until, flip[0]))
    return after, until


def _flip(last: float | None, allowed: float) -> tuple[float, float] | None:
    """Around when `max(0, now - last) > allowed` turns true, as (surely before, surely after); None if never.

    Never for no time, and for what is not finite: the test's result is then the same at every time.
    """
    if last is None or not math.isfinite(last) or not math.isfinite(allowed) or allowed < 0:
        return None
    at = last + allowed
    if not math.isfinite(at):
        return None  # past any time there is: never
    margin = 1e-9 + _MARGIN * (abs(last) + allowed)
    return at - margin, at + margin


__all__ = ["RowCache", "window"]
