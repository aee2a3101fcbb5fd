"""A month of scrapes for the report's tests: model snapshots of a scripted fleet, encoded by the exporter's own
OpenMetrics renderer (exporter.exposition.text.encode), timestamped per scrape, for
`promtool tsdb create-blocks-from openmetrics`; and the truth it wrote, to compare the report against.

The fleet: customer c-alpha the whole month (two modules, failures, protected data, a subscription that
expires soon after the month), customer c-beta added on day 12 (its name full of HTML), and an exporter
restart without a state file on day 20 (three hours without scrapes, the last-success memory lost).
With `counters=True` the run counters are counted by the exporter's own RunMemory (exporter/refresh/runs.py),
a new one after the restart as without a state file; with `counters=False` the month has the gauges only.
The truth keeps both counts: `outcomes` (each finished run seen once, what the gauges show) and `counted`
(what the counters count: a run already finished when a process first sees its job is that process's
baseline, never counted).
"""

from __future__ import annotations

import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from exporter import config
from exporter.codes import Outcome
from exporter.exposition import text
from exporter.model import Attempt, Customer, CustomerState, Job, ProtectedData, Snapshot, Subscription
from exporter.refresh.runs import RunMemory

HOUR = 3600.0
DAY = 86400.0
SCRAPE = HOUR  # one scrape an hour keeps the file small; each run stays the latest job for hours
RUN_MINUTES = 40.0  # a run is seen running at most at one scrape, then finished at the next ones


@dataclass(frozen=True)
class Plan:
    customer_id: str
    organization: str
    job_type: str
    job_module: str
    every_hours: float
    first_hour: float  # hour of the day of its first run
    failing_days: tuple[int, ...]  # days of the month whose runs fail
    size0: float
    objects0: int


@dataclass
class JobTruth:
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    counted: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # as the run counters count
    failed_starts: list[float] = field(default_factory=list)
    successes: list[float] = field(default_factory=list)  # run end times, in the month
    success_before: float | None = None  # last success seen before the month
    first_size: float | None = None
    last_size: float | None = None
    first_objects: float | None = None
    last_objects: float | None = None


@dataclass
class Truth:
    month: str
    start: float
    end: float
    added: dict[str, float]  # customer id -> first scrape with it
    restart: tuple[float, float]  # no scrapes in between
    jobs: dict[tuple[str, str, str], JobTruth]
    names: dict[str, str]
    expiry: dict[str, float]
    protected: dict[str, tuple[int, int]]  # customer -> (scanned, protected)
    counters: bool = True


BETA_NAME = 'Beta <script>alert(1)</script> & "Sons"'
PLANS = (
    # Runs at midnight: the first scrape of the month (01:00) counts one, so an increase() that missed the
    # increase from the last sample before the month would be seen.
    Plan("c-alpha", "Alpha GmbH", "Microsoft 365", "Exchange Online", 6, 0, (3, 4, 17), 40 * 2**30, 5_000),
    Plan("c-alpha", "Alpha GmbH", "Microsoft 365", "OneDrive", 12, 2, (4, 5, 6, 7), 120 * 2**30, 20_000),
    Plan("c-beta", BETA_NAME, "Microsoft 365", "SharePoint Online", 8, 3, (25,), 10 * 2**30, 800),
)


def _cfg() -> config.Config:
    return config.from_mapping(
        {
            "auth": {"client_id": "report-fixture", "client_secret": "not-used"},
            "endpoints": {"protected": True, "services": True},
        }
    )


def month_bounds(month: str) -> tuple[float, float]:
    year, mon = map(int, month.split("-"))
    start = datetime(year, mon, 1, tzinfo=UTC).timestamp()
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=UTC).timestamp()
    return start, end


def _runs(plan: Plan, start: float, end: float) -> list[tuple[float, float, bool]]:
    """(start, end, failed) of every run from a day before the month to its end."""
    out = []
    t = start - DAY + plan.first_hour * HOUR
    while t < end:
        day = datetime.fromtimestamp(t, UTC).day if t >= start else 0
        out.append((t, t + RUN_MINUTES * 60, day in plan.failing_days))
        t += plan.every_hours * HOUR
    return out


def write(path: Path, month: str, counters: bool = True) -> Truth:
    """Write the OpenMetrics file of the month (plus the day before it) and return what it holds."""
    start, end = month_bounds(month)
    added = {"c-alpha": start - DAY, "c-beta": start + 11 * DAY + 9 * HOUR}  # day 12, 09:00
    restart = (start + 19 * DAY + 10 * HOUR + 30 * 60, start + 19 * DAY + 13 * HOUR + 30 * 60)
    cfg = _cfg()
    runs = {p: _runs(p, start, end) for p in PLANS}
    truth = Truth(
        month,
        start,
        end,
        added,
        restart,
        {(p.customer_id, p.job_type, p.job_module): JobTruth() for p in PLANS},
        {"c-alpha": "Alpha GmbH", "c-beta": BETA_NAME},
        {"c-alpha": end + 20 * DAY, "c-beta": end + 90 * DAY},
        {"c-alpha": (200, 180)},
        counters,
    )
    memory = RunMemory()
    sighted: set[tuple[str, str, str]] = set()  # jobs this exporter process has seen
    baseline: set[tuple[str, str, str, float]] = set()  # runs finished at a process's first sight of their job
    last_success: dict[tuple[str, str, str], float] = {}
    counted: set[tuple[str, str, str, float]] = set()
    headers: dict[bytes, list[bytes]] = {}
    samples: dict[bytes, list[bytes]] = defaultdict(list)
    order: list[bytes] = []
    family = b""
    t = start - DAY
    while t < end:
        if restart[0] <= t < restart[1]:
            last_success.clear()  # a restart without a state file forgets what it saw
            memory, sighted = RunMemory(), set()
            t += SCRAPE
            continue
        states = []
        for cid in ("c-alpha", "c-beta"):
            if t < added[cid]:
                continue
            jobs = []
            seen: dict[tuple[str, str], float] = {}
            for plan in (p for p in PLANS if p.customer_id == cid):
                key = (cid, plan.job_type, plan.job_module)
                current = [(i, r) for i, r in enumerate(runs[plan]) if r[0] <= t]
                if not current:
                    continue
                index, (rs, re_, failed) = current[-1]
                done = t >= re_
                outcome = Outcome.RUNNING if not done else (Outcome.FAILED if failed else Outcome.SUCCESS)
                status = {"running": "In Progress", "failed": "Failed", "success": "Finished"}[outcome.value]
                size = plan.size0 + index * 64 * 2**20
                objects = plan.objects0 + index * 3
                jobs.append(
                    Job(
                        plan.job_type,
                        plan.job_module,
                        f"{cid}-{plan.job_module}-{index}",
                        "Daily backup",
                        status,
                        outcome,
                        objects=objects,
                        failed_objects=(objects // 10 if failed else 0) if done else None,
                        size_bytes=size,
                        start_time=rs,
                        end_time=re_ if done else None,
                    )
                )
                if key not in sighted:
                    sighted.add(key)
                    if done:
                        baseline.add((*key, rs))
                elif done and (*key, rs) not in counted and (*key, rs) not in baseline and start < t <= end:
                    # (start, end]: Prometheus' range selectors take a sample at the start as the one before
                    truth.jobs[key].counted[outcome.value] += 1
                if done and not failed:
                    last_success[key] = max(last_success.get(key, 0.0), re_)
                if key in last_success:
                    seen[(plan.job_type, plan.job_module)] = last_success[key]
                jt = truth.jobs[key]
                if start <= t < end:
                    jt.first_size = size if jt.first_size is None else jt.first_size
                    jt.last_size = size
                    jt.first_objects = objects if jt.first_objects is None else jt.first_objects
                    jt.last_objects = objects
                if done and (*key, rs) not in counted:
                    counted.add((*key, rs))
                    if start <= re_ < end:
                        jt.outcomes[outcome.value] += 1
                        if failed:
                            jt.failed_starts.append(rs)
                        else:
                            jt.successes.append(re_)
                    elif re_ < start and not failed:
                        jt.success_before = re_
            org = truth.names[cid]
            protected = (
                (ProtectedData("Cloud Backup for Microsoft 365", "Exchange Online", 200, 180, 30 * 2**30),)
                if cid in truth.protected
                else ()
            )
            subs = (
                Subscription(
                    cid,
                    "Cloud Backup for Microsoft 365",
                    "Standard",
                    expiry=truth.expiry[cid],
                    capacity_purchased_bytes=2**40,
                    consumed_bytes=300 * 2**30,
                ),
            )
            states.append(
                CustomerState(
                    Customer(cid, org, "DE", "Active"),
                    jobs=tuple(jobs),
                    attempt=Attempt(True, t),
                    last_success=seen,
                    protected=protected,
                    protected_attempt=Attempt(True, t),
                    subscriptions=subs,
                    runs=memory.record(cid, tuple(jobs), t) if counters else {},
                )
            )
        snap = Snapshot(
            generation=1,
            config=cfg,
            up=True,
            listing=Attempt(True, t),
            customers=tuple(states),
            refreshed=True,
            last_refresh_seconds=1.0,
            services=Attempt(True, t),
        )
        for line in text.encode(snap, openmetrics=True).splitlines():
            if line.startswith(b"#"):
                family = line.split()[2]
                if family not in headers:
                    headers[family] = []
                    order.append(family)
                if line not in headers[family]:
                    headers[family].append(line)
            else:
                samples[family].append(line + b" " + f"{t:.0f}".encode())
        t += SCRAPE
    # One family at a time, its headers first, as OpenMetrics wants families unbroken.
    with path.open("wb") as out:
        for fam in order:
            out.write(b"".join(ln + b"\n" for ln in headers[fam]))
            out.write(b"".join(ln + b"\n" for ln in samples[fam]))
        out.write(b"# EOF\n")
    return truth


def backfill(om: Path, data: Path) -> None:
    """promtool's backfill into a Prometheus data folder (blocks up to 31 days: a month in few blocks)."""
    data.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=744h", str(om), str(data)],
        check=True,
        capture_output=True,
    )
