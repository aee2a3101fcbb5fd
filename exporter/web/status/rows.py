"""The status page's rows kept from one build to the next: a customer's cells are built again only when its data,
the config or its staleness changed, so a build after k of n customers changed costs k rows' cells, n cheap
finishes at most and a sort. Pure.

What this relies on: the refresher replaces a customer's CustomerState object on every refresh, but keeps the
objects of its data that did not change (refresh/customer.py's `applied` makes new Attempts and keeps `jobs`,
`last_success`, `protected`, `scan_profiles`, `seats` unless they differ; the objects are frozen and their
mappings are new dicts per change, never changed in place). So a customer whose view.BODY_FIELDS are the
objects its kept Body was built from has the same data; what the Body shows depends besides only on the config
(endpoints, expected intervals) and, through its cells' staleness and its scan profiles' silence, on the time:
ages are not in the Row (view.py; the renderers compute them from Status.generated). Each kept Body carries the
times between which that staleness holds; outside them it is built again. The rest of a Row (the customer's
names, its refreshes, the reasons and health they add) is finished again from the current state whenever the
state is another object: a refresh that brought nothing new costs that, not the cells. The result is exactly
view.build() at the same time (tests/unit/web/test_status_rows.py).
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
    state: CustomerState  # the object the row was finished from (identity is what counts)
    body: view.Body  # built from `state`'s BODY_FIELDS, or from the same objects in an earlier state
    row: Row
    key: tuple[int, str, str]  # view.order(row)
    haystack: str  # paging.haystack(row): what the filter searches
    after: float  # the body (and so the row) holds for times strictly between `after` and `until`
    until: float


def _same_data(kept: CustomerState, cs: CustomerState) -> bool:
    """Whether `cs` holds the very data objects (view.BODY_FIELDS) a Body was built from in `kept` (identity: cheap,
    and enough). Spelled out, not looped over the names: it runs for every customer of every build."""
    return (
        kept.jobs is cs.jobs
        and kept.last_success is cs.last_success
        and kept.scan_profiles is cs.scan_profiles
        and kept.protected is cs.protected
        and kept.seats is cs.seats
    )


class RowCache:
    """The Rows of the last build, one per current customer; `build` gives what view.build would."""

    def __init__(self, build_body: Callable[[CustomerState, Snapshot, float], view.Body] = view.body) -> None:
        self._build_body = build_body
        self._config: Config | None = None
        self._kept: dict[str, _Kept] = {}
        self._columns: Counter[tuple[str, str]] = Counter()  # the kept rows' (job type, module) pairs, counted
        self.haystacks: tuple[str, ...] = ()  # of the last build's rows, in their order
        self.built = 0  # rows whose Body (cells) the last build built
        self.reused = 0  # rows whose Body it kept from the one before (finished again or not)
        self.finished = 0  # of those, rows finished again from their kept Body (a new state, the same data)

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
        finished = 0
        for cs in snap.customers:
            entry = old.get(cs.customer.id)
            if entry is None or not entry.after < now < entry.until or not _same_data(entry.state, cs):
                part = self._build_body(cs, snap, now)
                row = view.finish(cs, snap, part)
                entry = _Kept(cs, part, row, view.order(row), paging.haystack(row), *window(part))
                fresh.append(entry)
            elif entry.state is not cs:
                # A refresh that brought nothing new (new attempts), or new names from the listing: the cells hold.
                row = view.finish(cs, snap, entry.body)
                entry = _Kept(cs, entry.body, row, view.order(row), paging.haystack(row), entry.after, entry.until)
                finished += 1
            kept.setdefault(cs.customer.id, entry)
            entries.append(entry)
        self.built, self.reused, self.finished = len(fresh), len(entries) - len(fresh), finished
        columns: Iterable[tuple[str, str]]
        if len(kept) == len(entries):
            # The columns counted as rows come and go: only the rebuilt rows' cells are looked at.
            for cid, entry in old.items():
                now_kept = kept.get(cid)
                if now_kept is None or now_kept.body is not entry.body:
                    self._columns.subtract(_pairs(entry.body))
            for entry in fresh:
                self._columns.update(_pairs(entry.body))
            self._columns = +self._columns  # without the pairs no row has any more
            self._kept, columns = kept, self._columns.keys()
        else:
            # An id twice: not a refresher's snapshot (it holds customers by id). Nothing is kept from it.
            self._kept, self._columns = {}, Counter()
            columns = {pair for entry in entries for pair in _pairs(entry.body)}
        entries.sort(key=attrgetter("key"))  # stable, as view.build's sort over the same order of customers
        self.haystacks = tuple(entry.haystack for entry in entries)
        return view.assemble(snap, process, now, tuple(entry.row for entry in entries), columns)


def _pairs(part: view.Body) -> Iterable[tuple[str, str]]:
    return ((cell.job_type, cell.job_module) for cell in part.cells)


def window(row: Row | view.Body) -> tuple[float, float]:
    """The times strictly between which the staleness of `row`'s cells and scan profiles (and so the Body, and
    the Row's health, reasons and order as far as they follow from it) holds."""
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
