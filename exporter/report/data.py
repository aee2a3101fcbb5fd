"""One customer's month as typed frozen records, built from the raw samples Prometheus holds.

Runs come from the run counters (`avepoint_backup_job_runs_total`) where Prometheus has them, else they are
rebuilt from the latest-job gauges: each distinct start time of a job is one run, at the last outcome seen
for it. Either way the failed runs' dates come from the gauges (a counter has no dates). What was not
measured stays missing, with the time the measurement starts: never a 0.
"""

from __future__ import annotations

import calendar
import math
import re
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exporter.report.errors import NoData, UsageError
from exporter.report.prometheus import Series

# Outcomes of a finished run (exporter/codes.py's Outcome values): running and not_run are not finished.
FINISHED = ("success", "warning", "failed", "canceled", "unknown")
GOOD = ("success", "warning")
# The success ratio's denominator leaves canceled runs out: a person stopped them (as the recording rules).
COUNTED = ("success", "warning", "failed", "unknown")
# The kinds a success ratio judges, as the recording rules and the alert (avepoint_backup_job_kind{kind="backup"});
# "" is a job without a kind series (an exporter older than the family): counted as a backup.
BACKUP_KINDS = ("", "backup")
# A hole in a customer's samples longer than this many of its usual intervals is reported as not measured.
GAP_FACTOR = 2.0
# Subscriptions expiring within this many days after the period are flagged on the fleet page.
EXPIRY_DAYS = 30

Samples = tuple[tuple[float, float], ...]
# fetch(selector, before): every raw sample of the period, and of `before` seconds ahead of it.
Fetch = Callable[[str, float], list[Series]]
# The counters are read from a day ahead of the period: the increase of the first scrape in the period is
# counted from the last sample before it, whatever the scrape interval.
COUNTER_LOOKBACK = 86400.0


@dataclass(frozen=True)
class Period:
    """A calendar month in a time zone; `end` is the month's end, or now for the current month."""

    month: str
    zone: ZoneInfo
    start: float
    end: float
    complete: bool


def parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--timezone: unknown time zone {name!r} (an IANA name such as Europe/Berlin)") from None


def parse_month(text: str, zone: ZoneInfo, now: float | None = None) -> Period:
    """YYYY-MM, or `previous`: the month before the current one in `zone` (what a monthly cron job wants)."""
    now = time.time() if now is None else now
    if text == "previous":
        today = datetime.fromtimestamp(now, zone)
        index = today.year * 12 + today.month - 2
        text = f"{index // 12:04d}-{index % 12 + 1:02d}"
    match = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if not match or not 1 <= int(match[2]) <= 12:
        raise UsageError(f"--month: {text!r} is not a month as YYYY-MM (e.g. 2026-11) or previous")
    year, month = int(match[1]), int(match[2])
    start = datetime(year, month, 1, tzinfo=zone).timestamp()
    nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone).timestamp()
    if start > now:
        raise UsageError(f"--month: {text} has not started yet (it is {local(now, zone, '%Y-%m-%d')} in {zone.key})")
    return Period(text, zone, start, min(nxt, now), nxt <= now)


def local(t: float, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return datetime.fromtimestamp(t, zone).strftime(fmt)


def days(period: Period) -> list[tuple[float, float]]:
    """The period's days in its time zone, as (start, end) times."""
    first = datetime.fromtimestamp(period.start, period.zone)
    count = calendar.monthrange(first.year, first.month)[1]
    out = []
    for day in range(1, count + 1):
        a = datetime(first.year, first.month, day, tzinfo=period.zone).timestamp()
        b = (
            datetime(first.year, first.month, day + 1, tzinfo=period.zone).timestamp()
            if day < count
            else datetime(first.year + first.month // 12, first.month % 12 + 1, 1, tzinfo=period.zone).timestamp()
        )
        if a < period.end:
            out.append((a, min(b, period.end)))
    return out


@dataclass(frozen=True)
class Run:
    """One finished run: its start time (the job's identity with its id) and its final outcome."""

    start: float
    end: float | None
    outcome: str
    status: str

    @property
    def when(self) -> float:
        return self.end if self.end is not None else self.start


@dataclass(frozen=True)
class Gap:
    """The longest time without a success; `open_start` when it starts where the measurement starts."""

    start: float
    end: float
    open_start: bool

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class JobMonth:
    job_type: str
    job_module: str
    kind: str
    source: str  # "counters" or "gauges": where the run counts come from
    outcomes: Mapping[str, int]  # finished runs in the period by outcome
    runs: tuple[Run, ...]  # finished runs seen in the gauges, for dates
    measured_from: float  # first sample of the job in the period (or the counters' seen-since time)
    last_success: float | None
    longest_gap: Gap | None
    objects: tuple[float | None, float | None]  # at the first and the last sample of the period
    size: tuple[float | None, float | None]
    size_samples: Samples
    never_ran: bool = False  # no start time in the whole period: the documented never-run row
    # From the counters: finished runs by outcome on each of days(period), adding up to `outcomes`; None when
    # the runs come from the gauges (the chart then counts `runs` by date).
    per_day: tuple[Mapping[str, int], ...] | None = None

    @property
    def total(self) -> int:
        return sum(self.outcomes.get(o, 0) for o in FINISHED)

    @property
    def failed(self) -> int:
        return self.outcomes.get("failed", 0)

    @property
    def ratio(self) -> float | None:
        counted = sum(self.outcomes.get(o, 0) for o in COUNTED)
        return sum(self.outcomes.get(o, 0) for o in GOOD) / counted if counted else None

    @property
    def is_backup(self) -> bool:
        """Judged in the summary and the ratios: scan, archiver and retention jobs are shown but not judged."""
        return self.kind in BACKUP_KINDS

    @property
    def failed_runs(self) -> tuple[Run, ...]:
        return tuple(r for r in self.runs if r.outcome == "failed")


@dataclass(frozen=True)
class Protected:
    service: str
    module: str
    scanned: float | None
    protected: float | None

    @property
    def ratio(self) -> float | None:
        return self.protected / self.scanned if self.scanned and self.protected is not None else None


@dataclass(frozen=True)
class Subscription:
    service: str
    name: str
    expiry: float | None
    capacity_purchased: float | None
    capacity_consumed: float | None


@dataclass(frozen=True)
class CustomerMonth:
    customer_id: str
    name: str
    period: Period
    generated: float
    measured_from: float  # first sample of the customer in the period
    interval: float  # the usual time between its samples (the scrape interval, as Prometheus stored it)
    holes: tuple[tuple[float, float], ...]  # stretches without samples after that
    jobs: tuple[JobMonth, ...]
    protected: tuple[Protected, ...]
    subscriptions: tuple[Subscription, ...]
    notes: tuple[str, ...] = field(default=())  # what could not be measured, said plainly

    @property
    def backups(self) -> tuple[JobMonth, ...]:
        """The jobs the summary judges (kind "backup", or no kind series), as the recording rules do."""
        return tuple(j for j in self.jobs if j.is_backup)

    @property
    def failed(self) -> int:
        return sum(j.failed for j in self.backups)

    @property
    def late_start(self) -> float | None:
        """When measuring began, if well after the period's start (a customer added, an exporter deployed)."""
        slack = max(self.interval * GAP_FACTOR, 60.0)
        return self.measured_from if self.measured_from - self.period.start > slack else None

    @property
    def ratio(self) -> float | None:
        counted = sum(j.outcomes.get(o, 0) for j in self.backups for o in COUNTED)
        good = sum(j.outcomes.get(o, 0) for j in self.backups for o in GOOD)
        return good / counted if counted else None

    @property
    def modules_with_failures(self) -> tuple[JobMonth, ...]:
        return tuple(j for j in self.backups if j.failed)

    @property
    def never_ran(self) -> tuple[JobMonth, ...]:
        return tuple(j for j in self.backups if j.never_ran)

    @property
    def modules_without_success(self) -> tuple[JobMonth, ...]:
        return tuple(
            j
            for j in self.backups
            if j.last_success is None or j.last_success < max(self.period.start, j.measured_from)
        )

    def expiring(self, days: int = EXPIRY_DAYS) -> tuple[Subscription, ...]:
        limit = self.period.end + days * 86400
        return tuple(s for s in self.subscriptions if s.expiry is not None and s.expiry <= limit)


def quote(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def finite(series: Iterable[Series]) -> list[Series]:
    """The series without their NaN and ±Inf samples (a stale marker, a bad exporter, a recording rule's 0/0):
    none of them is a count, a time or a size; a series left without samples is dropped."""
    out = []
    for s in series:
        kept = tuple(p for p in s.samples if math.isfinite(p[1]))
        if kept:
            out.append(s if len(kept) == len(s.samples) else Series(s.labels, kept))
    return out


Source = tuple[str, str]  # a scrape target: (job, instance), Prometheus' target labels
# A label matcher of PromQL: name, operator, a quoted string (Prometheus' escapes).
_MATCHER = re.compile(r"""\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')\s*""")


def parse_selector(text: str) -> str:
    """`--prometheus.selector`: label matchers (job="avepoint",instance="x:9877"), as PromQL writes them inside
    braces (the braces optional), returned ready to join to the report's own matchers."""
    inner = text.strip()
    if inner.startswith("{") and inner.endswith("}"):
        inner = inner[1:-1]
    matchers = []
    pos = 0
    while inner.strip(", \t") and pos < len(inner):
        match = _MATCHER.match(inner, pos)
        if match is None:
            raise UsageError(
                f'--prometheus.selector: {text!r} is not label matchers such as job="avepoint",instance="host:9877"'
                f" (cannot read {inner[pos:][:40]!r})"
            )
        matchers.append(f"{match[1]}{match[2]}{match[3]}")
        pos = match.end()
        if pos < len(inner):
            if inner[pos] != ",":
                raise UsageError(
                    f"--prometheus.selector: {text!r}: expected ',' between matchers at {inner[pos:][:40]!r}"
                )
            pos += 1
    if not matchers:
        raise UsageError(f"--prometheus.selector: {text!r} holds no label matcher")
    return ",".join(matchers)


def _source(s: Series) -> Source:
    return (s.labels.get("job", ""), s.labels.get("instance", ""))


def one_source(series: Iterable[Series]) -> tuple[list[Source], list[Source]]:
    """The scrape targets whose series of one job are kept, and those left out. Targets one after another (a
    pod replaced, its instance changed) are all kept: their counters add up. Targets at overlapping times (two
    exporters, or one scraped by two Prometheus jobs) would count every run twice: the one with the most
    samples is kept."""
    times: dict[Source, set[float]] = defaultdict(set)
    for s in series:
        times[_source(s)].update(t for t, _ in s.samples)
    spans = {k: (min(v), max(v)) for k, v in times.items() if v}
    kept: list[Source] = []
    for src in sorted(spans, key=lambda k: (-len(times[k]), k)):
        lo, hi = spans[src]
        if all(hi < spans[k][0] or lo > spans[k][1] for k in kept):
            kept.append(src)
    return kept, sorted(k for k in spans if k not in kept)


def _target(src: Source) -> str:
    return f"job={quote(src[0])}, instance={quote(src[1])}"


def _key(s: Series) -> tuple[str, str]:
    return (s.labels.get("job_type", ""), s.labels.get("job_module", ""))


def _by_job(series: Iterable[Series]) -> dict[tuple[str, str], list[Series]]:
    out: dict[tuple[str, str], list[Series]] = defaultdict(list)
    for s in series:
        out[_key(s)].append(s)
    return out


def _newest(series: Iterable[Series], *names: str) -> dict[tuple[str, ...], Series]:
    """Per value of the labels `names`, the series with the newest sample: the same module scraped from
    another pod (its `instance` label changed with a restart) is one thing, at its latest value."""
    out: dict[tuple[str, ...], Series] = {}
    for s in series:
        key = tuple(s.labels.get(n, "") for n in names)
        if s.samples and (key not in out or s.samples[-1][0] > out[key].samples[-1][0]):
            out[key] = s
    return out


def _merged(series: Sequence[Series]) -> Samples:
    return tuple(sorted(p for s in series for p in s.samples))


def _at(samples: Samples, t: float) -> float | None:
    """The value of a gauge's newest sample at or before t (within the same scrape, to the millisecond)."""
    found = None
    for ts, v in samples:
        if ts > t + 0.001:
            break
        found = v
    return found


def _usual(times: Sequence[float]) -> float:
    steps = sorted(b - a for a, b in pairwise(times))
    return steps[len(steps) // 2] if steps else 0.0


def holes(times: Sequence[float], end: float) -> tuple[tuple[float, float], ...]:
    """Stretches without samples: longer than GAP_FACTOR times the usual (median) interval."""
    if len(times) < 3:
        return ()
    limit = _usual(times) * GAP_FACTOR
    found = [(a, b) for a, b in pairwise(times) if b - a > limit]
    if end - times[-1] > limit:
        found.append((times[-1], end))
    return tuple(found)


def runs_from_gauges(status: Sequence[Series], starts: Samples, ends: Samples) -> tuple[Run, ...]:
    """Each distinct start time is one run, at the last outcome seen while it was the latest job."""
    seen: dict[float, tuple[float, str, str]] = {}  # start -> (sample time, outcome, status)
    for s in status:
        for t, v in s.samples:
            start = _at(starts, t)
            if v != 1 or start is None:
                continue
            if start not in seen or seen[start][0] <= t:
                seen[start] = (t, s.labels.get("outcome", ""), s.labels.get("status", ""))
    runs = []
    for start, (t, outcome, status_text) in sorted(seen.items()):
        if outcome in FINISHED:
            end = _at(ends, t)
            runs.append(Run(start, end if end is not None and end >= start else None, outcome, status_text))
    return tuple(runs)


def _from(samples: Samples, start: float) -> Samples:
    """The samples after `start`, led by the last one at or before it (the baseline of an increase)."""
    before = [p for p in samples if p[0] <= start]
    return tuple(before[-1:]) + tuple(p for p in samples if p[0] > start)


def increase(samples: Samples) -> float:
    """A counter's increase over its samples, counting resets (a restart starts again at its value)."""
    return sum((_step(a, b) for (_, a), (_, b) in pairwise(samples)), 0.0)


def _step(a: float, b: float) -> float:
    """A counter's increase from sample a to sample b: after a reset (b < a) it started again at 0."""
    return b - a if b >= a else b


def per_day(counters: Sequence[Series], spans: Sequence[tuple[float, float]]) -> tuple[dict[str, int], ...]:
    """The counters' increase on each day (a, b], by outcome: each step between two samples counts on the day
    of its later sample, so the days add up to the month's increase (resets counted as in `increase`)."""
    out: tuple[dict[str, int], ...] = tuple({o: 0 for o in FINISHED} for _ in spans)
    ends = [end for _, end in spans]
    for s in counters:
        outcome = s.labels.get("outcome", "")
        if outcome not in FINISHED:
            continue
        for (_, a), (t, b) in pairwise(s.samples):
            i = bisect_left(ends, t)
            if i < len(spans) and spans[i][0] < t:
                out[i][outcome] += round(_step(a, b))
    return out


def longest_gap(
    successes: Iterable[float], before: float | None, start: float, end: float, floor: float | None = None
) -> Gap | None:
    """The longest stretch of [start, end] without a success. `before`: the last success before `start`, if
    known (the stretch then begins there, even in the month before, unless `floor` clips it); without one the
    stretch begins at `start` and is open (at least that long)."""
    points = sorted({t for t in successes if start <= t <= end})
    first = (before if floor is None else max(before, floor), False) if before is not None else (start, True)
    edges: list[tuple[float, bool]] = [first]
    edges += [(t, False) for t in points]
    best = None
    for (a, is_open), b in zip(edges, [t for t, _ in edges[1:]] + [end], strict=True):
        if b > a and (best is None or b - a > best.seconds):
            best = Gap(a, b, is_open)
    return best


def build(
    fetch: Fetch,
    customer_id: str,
    period: Period,
    name: str | None = None,
    now: float | None = None,
    *,
    matchers: str = "",
) -> CustomerMonth:
    """One customer's month from `fetch(selector)`, which answers every raw sample of the period; `matchers`
    (parse_selector's) are added to every selector."""
    sel = "{customer_id=" + quote(customer_id) + ("," + matchers if matchers else "") + "}"

    def get(metric: str, before: float = 0.0) -> list[Series]:
        return finite(fetch(metric + sel, before))

    info = get("avepoint_customer_info")
    if not info:
        raise NoData(f"customer {customer_id}: Prometheus has no avepoint_customer_info samples in {period.month}")
    times = sorted({t for s in info for t, _ in s.samples})
    organization = max(info, key=lambda s: s.samples[-1][0]).labels.get("organization", "")
    notes = []
    measured_from = times[0]
    status = _by_job(get("avepoint_backup_job_status"))
    starts = _by_job(get("avepoint_backup_job_start_timestamp_seconds"))
    ends = _by_job(get("avepoint_backup_job_end_timestamp_seconds"))
    success = _by_job(get("avepoint_backup_job_last_success_timestamp_seconds"))
    objects = _by_job(get("avepoint_backup_job_objects"))
    sizes = _by_job(get("avepoint_backup_job_size_bytes"))
    kinds = _by_job(get("avepoint_backup_job_kind"))
    counters = _by_job(get("avepoint_backup_job_runs_total", COUNTER_LOOKBACK))
    seen_since = _by_job(get("avepoint_backup_job_runs_seen_since_timestamp_seconds"))
    if not counters:
        notes.append(
            "Runs are counted from the latest-job gauges (this Prometheus has no avepoint_backup_job_runs_total): "
            "a run that started and ended between two refreshes of the exporter is not seen."
        )
    doubled: dict[tuple[str, str], tuple[Source, list[Source]]] = {}
    for key in status:
        targets, dropped = one_source([*status[key], *counters.get(key, [])])
        if dropped:
            doubled[key] = (targets[0], dropped)
            for table in (status, starts, ends, success, objects, sizes, kinds, counters, seen_since):
                if key in table:
                    table[key] = [s for s in table[key] if _source(s) in targets]
    if doubled:
        notes.append(
            "The same jobs came from more than one scrape target at the same time, and are counted from one of "
            "them, not summed: "
            + "; ".join(
                f"{k[0]} / {k[1]} from {_target(one)} (the most samples), not {', '.join(map(_target, dropped))}"
                for k, (one, dropped) in sorted(doubled.items())
            )
            + ". --prometheus.selector picks the target."
        )
    jobs = []
    for key in sorted(status):
        job_times = sorted({t for s in status[key] for t, _ in s.samples})
        seen_runs = runs_from_gauges(status[key], _merged(starts.get(key, [])), _merged(ends.get(key, [])))
        runs = tuple(r for r in seen_runs if period.start <= r.when <= period.end)
        seen = {o: sum(r.outcome == o for r in runs) for o in FINISHED}  # the runs the gauges show
        job_from = job_times[0]
        if key in counters:
            outcomes = {o: 0 for o in FINISHED}
            for s in counters[key]:
                outcome = s.labels.get("outcome", "")
                if outcome in outcomes:
                    outcomes[outcome] += round(increase(_from(s.samples, period.start)))
            since = _merged(seen_since.get(key, []))
            if since:
                job_from = max(job_from, min(v for _, v in since))
            source = "counters"
            if seen != outcomes:
                notes.append(
                    f"{key[0]} / {key[1]}: the exporter counted {sum(outcomes.values())} runs, the latest-job gauges "
                    f"show {len(runs)}; the counts are the counters', the failed runs listed are the gauges'. "
                    "(A restart without state_file, or a job first seen mid-run, leaves a run uncounted; a run "
                    "between two scrapes is counted but has no date.)"
                )
            daily = per_day([Series(c.labels, _from(c.samples, period.start)) for c in counters[key]], days(period))
        else:
            outcomes = seen
            source = "gauges"
            daily = None
        last = _merged(success.get(key, []))
        in_period = [v for _, v in last if v <= period.end]
        # Every success known: the last-success gauge's values and the good runs the gauges show. The gap
        # starts at the last one before the measurement starts, even in the month before (a job unprotected
        # since October 28 was unprotected that long on November 3: the dashboard's rule too), else open.
        good = {r.when for r in seen_runs if r.outcome in GOOD and r.when <= period.end} | set(in_period)
        begin = max(period.start, job_from)
        prior = [t for t in good if t < begin]
        size = _merged(sizes.get(key, []))
        obj = _merged(objects.get(key, []))
        # The kind at the newest sample of any of its series (a job's kind can change; the order Prometheus
        # answers in says nothing about time).
        newest_kind = _newest(kinds.get(key, []), "job_type", "job_module")
        kind = next(iter(newest_kind.values())).labels.get("kind", "") if newest_kind else ""
        jobs.append(
            JobMonth(
                job_type=key[0],
                job_module=key[1],
                kind=kind,
                source=source,
                outcomes=outcomes,
                runs=runs,
                measured_from=job_from,
                last_success=max(good) if good else None,
                longest_gap=longest_gap(good, max(prior) if prior else None, begin, period.end),
                never_ran=key not in starts and not runs,
                objects=(obj[0][1], obj[-1][1]) if obj else (None, None),
                size=(size[0][1], size[-1][1]) if size else (None, None),
                size_samples=size,
                per_day=daily,
            )
        )
    protected = []
    scanned = _newest(get("avepoint_protected_scanned_objects"), "service", "module")
    kept = _newest(get("avepoint_protected_objects"), "service", "module")
    for where in sorted(set(scanned) | set(kept)):
        protected.append(
            Protected(
                where[0],
                where[1],
                scanned[where].last if where in scanned else None,
                kept[where].last if where in kept else None,
            )
        )
    subs: dict[tuple[str, ...], dict[str, float | None]] = defaultdict(dict)
    for field_name, metric in (
        ("expiry", "avepoint_subscription_expiry_timestamp_seconds"),
        ("capacity_purchased", "avepoint_subscription_capacity_purchased_bytes"),
        ("capacity_consumed", "avepoint_subscription_capacity_consumed_bytes"),
    ):
        for which, series in _newest(get(metric), "service", "subscription").items():
            subs[which][field_name] = series.last
    subscriptions = tuple(
        Subscription(k[0], k[1], v.get("expiry"), v.get("capacity_purchased"), v.get("capacity_consumed"))
        for k, v in sorted(subs.items())
    )
    if not protected:
        notes.append("Protected data is not read for this customer (endpoints.protected is off, or no samples).")
    if not subscriptions:
        notes.append("Subscriptions are not read for this customer (endpoints.services is off, or no samples).")
    return CustomerMonth(
        customer_id=customer_id,
        name=name or organization or customer_id,
        period=period,
        generated=time.time() if now is None else now,
        measured_from=measured_from,
        interval=_usual(times),
        holes=holes(times, period.end),
        jobs=tuple(jobs),
        protected=tuple(protected),
        subscriptions=subscriptions,
        notes=tuple(notes),
    )


def customers(fetch: Fetch, matchers: str = "") -> list[str]:
    """Every customer id with samples in the period."""
    selector = "avepoint_customer_info" + ("{" + matchers + "}" if matchers else "")
    return sorted({s.labels["customer_id"] for s in fetch(selector, 0.0) if "customer_id" in s.labels})


__all__ = [
    "BACKUP_KINDS",
    "COUNTED",
    "EXPIRY_DAYS",
    "FINISHED",
    "GOOD",
    "CustomerMonth",
    "Gap",
    "JobMonth",
    "Period",
    "Protected",
    "Run",
    "Subscription",
    "build",
    "customers",
    "days",
    "finite",
    "holes",
    "increase",
    "local",
    "longest_gap",
    "one_source",
    "parse_month",
    "parse_selector",
    "parse_zone",
    "per_day",
    "quote",
    "runs_from_gauges",
]
