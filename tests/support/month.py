"""A month of exporter history for backfill tests: the real refresher and OpenMetrics encoder over a simulated
month on a fake clock, written for `promtool tsdb create-blocks-from openmetrics`, with the truth it wrote.

Nothing here computes a metric: every sample is what `Refresher` + `ExpositionCache` served at that moment
(so families another branch adds, such as the run counters, appear without a change here). The truth is taken
from the other side, the simulator's answers as the refresher received them: each run seen (job id and start,
its final status), sizes, protected counts and subscriptions at the month's end, and when each exporter
instance first and last exported each customer.

The month has, on purpose: the simulator's own failed, warning and canceled runs; a forced outage (one job fails
for days, so "longest time without a success" is days); an exporter restart (a new Refresher and cache, no
state file: counters start again from 0, the last-success memory is lost) with a gap without scrapes; a customer
added mid-month (absent from every answer before), its organization full of HTML (HOSTILE_NAME); and a module
that never ran (no run, no ratio). `Plan(counters=False)` leaves the run counters out, as an exporter from
before them served (GAUGES_ONLY: the week the report's gauges fallback is tested on).
"""

from __future__ import annotations

import calendar
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

import requests

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from avepoint_simulator.dialects import internal
from avepoint_simulator.fleet import FleetSpec
from avepoint_simulator.scenario import Scenario
from exporter import config
from exporter.exposition.cache import ExpositionCache
from exporter.refresh import Refresher
from tests.support.harness import start_prometheus

DAY: Final = 86400.0
# The raw statuses of the simulator (avepoint_simulator/rows.py) and what they mean in the `outcome` label of
# the run counters (the shared contract). Written out here, not taken from the exporter, so a wrong mapping
# there shows as a mismatch. "Skipped" ran nothing: it is not a finished run of the five outcomes.
OUTCOMES: Final = {
    "Finished": "success",
    "Finished with exception": "warning",
    "Failed": "failed",
    "Failed to start": "failed",
    "Canceled": "canceled",
    "Skipped": "not_run",
}
# The labels of the scrape target, as Prometheus' scrape config in the README names the job.
JOB: Final = "avepoint-backup-exporter"
INSTANCE: Final = "exporter:9877"
TARGET_LABELS: Final = f'job="{JOB}",instance="{INSTANCE}"'
COUNTED: Final = ("success", "warning", "failed", "canceled", "unknown")  # the run counters' outcomes
_UNITS: Final = {"KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
# A module no simulated customer has in this fleet: pinned onto the first customer as a job that never ran.
NEVER_RUN: Final = ("Microsoft 365", "Power Apps")
# The organization of the customer added mid-month: HTML in it, for the report's escaping. No `"`, `\` or
# regex metacharacters, so the dashboards' tests can put it in a PromQL string or a Grafana regex as it is.
HOSTILE_NAME: Final = "Beta <script>alert</script> & 'Sons' <b>"
# The run counters' families: left out of the exposition for a month of an exporter that has none.
RUN_COUNTERS: Final = ("avepoint_backup_job_runs", "avepoint_backup_job_runs_seen_since_timestamp_seconds")


def month_start(month: str) -> float:
    """Unix time of 00:00 UTC on the first day of `month` ("2026-11")."""
    year, mon = (int(part) for part in month.split("-"))
    return float(calendar.timegm((year, mon, 1, 0, 0, 0)))


@dataclass(frozen=True)
class Plan:
    """What month to simulate. Days are offsets from `start`; the defaults make a 30-day month in ~10 s."""

    month: str = "2026-11"
    days: int = 30
    step: float = 300.0  # one scrape every 5 minutes: Prometheus' default lookback finds a sample at any time
    ttl: float = 1800.0  # cache.ttl: a refresh every sixth scrape (runs last longer; each is seen)
    customers: int = 3
    jobs_per_customer: int = 3
    seed: int = 15
    restart_day: float = 17.5  # the first exporter stops here ...
    restart_gap: float = 1800.0  # ... and the second starts this much later
    added: int = 2  # index of the customer the API lists only from `added_day` on
    added_day: float = 9.5
    outage: tuple[int, int, float, float] = (0, 0, 5.0, 9.0)  # customer, module index, from day, to day: Failed
    names: tuple[tuple[int, str], ...] = ((2, HOSTILE_NAME),)  # customer index -> organization served
    counters: bool = True  # False: the exposition without the run counters (an exporter from before them)

    @property
    def start(self) -> float:
        return month_start(self.month)

    @property
    def end(self) -> float:
        """The last scrape's time (the month's last step)."""
        return self.start + self.days * DAY - self.step


# A week of an exporter without run counters, two months before the default month: no restart, no customer
# added (both come later than a week), the outage on days 5 to 7.
GAUGES_ONLY: Final = Plan(month="2026-09", days=7, counters=False, names=())


@dataclass
class Run:
    """One distinct run as the refresher received it: identified by job id and start, its last status seen."""

    job_id: str
    start: float
    end: float | None  # None while it ran at the last sight
    status: str
    first_seen: float
    instance: int  # which exporter instance (0, then 1 after the restart) saw it first
    # The instances for which it was the row of their first sight of the job: no run before it is known to
    # them, and a restart without a state file must not count it again (issue 15 point 1).
    first_sight: set[int] = field(default_factory=set)
    # When a refresh first saw it finished, and whether that counted it: the run counters count a run once,
    # when first seen finished, unless it is the finished run of a first sight (README, "Run history").
    finished_seen: float | None = None
    counted: bool = False

    @property
    def outcome(self) -> str:
        return OUTCOMES.get(self.status, "running" if self.end is None else "unknown")


@dataclass
class JobTruth:
    customer_id: str
    job_type: str
    job_module: str
    runs: list[Run] = field(default_factory=list)
    size_bytes: float | None = None  # backupSize of the last row served
    objects: int | None = None  # totalCount of the last row served
    never_ran: bool = False

    def finished(self, start: float = float("-inf"), end: float = float("inf")) -> list[Run]:
        """The runs that finished in [start, end]."""
        return [r for r in self.runs if r.end is not None and start <= r.end <= end]

    def count(self, outcome: str, start: float = float("-inf"), end: float = float("inf")) -> int:
        return sum(1 for r in self.finished(start, end) if r.outcome == outcome)

    def counted(self, outcome: str, start: float = float("-inf"), end: float = float("inf")) -> int:
        """What the run counters added for `outcome` in refreshes within [start, end]."""
        return sum(
            1
            for r in self.runs
            if r.counted and r.outcome == outcome and r.finished_seen is not None and start <= r.finished_seen <= end
        )

    def last_success(self, at: float = float("inf")) -> float | None:
        """End of the newest success or warning that had finished by `at`."""
        ends = [r.end for r in self.finished(end=at) if r.outcome in ("success", "warning") and r.end is not None]
        return max(ends) if ends else None


@dataclass
class CustomerTruth:
    id: str
    organization: str
    jobs: dict[tuple[str, str], JobTruth] = field(default_factory=dict)
    # Per exporter instance: (first, last) scrape time that exported this customer.
    exported: dict[int, tuple[float, float]] = field(default_factory=dict)
    protected: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # (protected, scanned)
    expiry: dict[str, str] = field(default_factory=dict)  # service -> expirationDate at the month's end

    @property
    def first_exported(self) -> float:
        return min(first for first, _ in self.exported.values())


@dataclass
class Month:
    """What `generate` wrote: the file, its scrape times, and the truth per customer and job."""

    path: Path
    plan: Plan
    scrapes: list[float]
    instances: list[tuple[float, float]]  # (first, last) scrape of each exporter instance
    customers: dict[str, CustomerTruth]
    samples: int
    seconds: float  # how long generating took

    @property
    def start(self) -> float:
        return self.plan.start

    @property
    def end(self) -> float:
        return self.plan.end

    def jobs(self) -> Iterator[JobTruth]:
        for customer in self.customers.values():
            yield from customer.jobs.values()


def size_bytes(text: object) -> float | None:
    """The simulator's size spelling ("12.5 GB", binary multiples) in bytes."""
    number, _, unit = str(text).partition(" ")
    try:
        return float(number) * _UNITS[unit]
    except (ValueError, KeyError):
        return None


def _time(text: object) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


class _Upstream:
    """The refresher's ApiClient over the simulator's scenario in process (the legacy dialect, as the real
    Client returns it: the answers' element lists), recording what it served as the truth.

    In process, not over HTTP: a month is some 3,000 refresh cycles, and the HTTP path is tested elsewhere.
    """

    def __init__(self, scenario: Scenario, clock: _Clock, plan: Plan) -> None:
        self._scenario, self._clock, self._plan = scenario, clock, plan
        self.instance = 0
        self.truth: dict[str, CustomerTruth] = {}
        self._seen: set[tuple[int, str, str, str]] = set()  # (instance, customer, type, module)
        self._outage: tuple[str, str, str, float, float] | None = None

    def force_outage(self, customer_id: str, job_type: str, job_module: str, start: float, end: float) -> None:
        self._outage = (customer_id, job_type, job_module, start, end)

    def customers(self) -> list[object]:
        return list(self._scenario.customers)

    def jobs(self, customer_id: str) -> list[object]:
        now = self._clock.now
        rows = self._scenario.jobs(customer_id, at=now)
        truth = self.truth.setdefault(customer_id, self.customer_truth(customer_id))
        for row in rows:
            self._outaged(customer_id, row, now)
            self._record(truth, row, now)
        return list(rows)

    def jobs_for(self, customer_id: str, job_type: str, job_module: str) -> list[object]:
        return [
            r
            for r in self.jobs(customer_id)
            if isinstance(r, dict) and (r["jobType"], r["jobModule"]) == (job_type, job_module)
        ]

    def protected(self, customer_id: str) -> list[object]:
        rows = self._scenario.protected(customer_id, at=self._clock.now)
        truth = self.truth.setdefault(customer_id, self.customer_truth(customer_id))
        truth.protected = {
            (str(r["serviceType"]), str(r["serviceModule"])): (
                int(str(r["totalProtectedObjects"])),
                int(str(r["totalScannedObjects"])),
            )
            for r in rows
        }
        return list(rows)

    def services(self, customer_ids: list[str] | None = None) -> list[object]:
        elements = self._scenario.services(at=self._clock.now)
        wanted = set(customer_ids) if customer_ids is not None else None
        served = [e for e in elements if wanted is None or e["customerId"] in wanted]
        for element in served:
            truth = self.truth.setdefault(str(element["customerId"]), self.customer_truth(str(element["customerId"])))
            products = element["products"]
            assert isinstance(products, list)
            truth.expiry = {str(p["service"]): str(p["expirationDate"]) for p in products}
        return list(served)

    # The month reads jobs, protected data and subscriptions (legacy, which has no seats route): the other
    # groups stay off in its config, so the refresher never asks for these.
    def scan_profiles(self, customer_id: str) -> list[object]:
        raise AssertionError("endpoints.scan_profiles is off in the month's config")

    def scan_profile_summary(self, customer_id: str, profile_id: str) -> dict[str, object]:
        raise AssertionError("endpoints.scan_profiles is off in the month's config")

    def seats(self, customer_id: str, tenant_type: int) -> list[object]:
        raise AssertionError("no seats under api.version legacy")

    def customer_truth(self, customer_id: str) -> CustomerTruth:
        record = next(c for c in self._scenario.customers if c["id"] == customer_id)
        return CustomerTruth(customer_id, record["organization"])

    def _outaged(self, customer_id: str, row: dict[str, object], now: float) -> None:
        """The forced outage: every run that finishes in its window fails (a test-side pin that knows the time)."""
        if self._outage is None:
            return
        cid, job_type, job_module, start, end = self._outage
        if (customer_id, row["jobType"], row["jobModule"]) != (cid, job_type, job_module):
            return
        started = _time(row["startTime"])
        if started is not None and start <= started < end and row["status"] != "Running":
            row.update(status="Failed", backupSize="0 GB", failedCount=row["totalCount"], successfulCount="0")

    def _record(self, truth: CustomerTruth, row: dict[str, object], now: float) -> None:
        # Keyed by the catalog's (v3) names, which the exporter exports under either dialect (issue 12).
        key = internal(str(row["jobType"]), str(row["jobModule"]))
        job = truth.jobs.setdefault(key, JobTruth(truth.id, *key))
        first_sight = (self.instance, truth.id, *key) not in self._seen
        self._seen.add((self.instance, truth.id, *key))
        started = _time(row["startTime"])
        if started is None:  # the documented never-run row: no run
            job.never_ran = True
            return
        job.never_ran = False
        job.size_bytes = size_bytes(row["backupSize"])
        job.objects = int(str(row["totalCount"]))
        job_id, status = str(row["jobId"]), str(row["status"])
        end = _time(row["endTime"])
        last = job.runs[-1] if job.runs else None
        if last is None or (last.job_id, last.start) != (job_id, started):
            last = Run(job_id, started, end, status, now, self.instance)
            job.runs.append(last)
        last.status, last.end = status, end
        if first_sight:
            last.first_sight.add(self.instance)
        if end is not None and last.finished_seen is None:
            last.finished_seen = now
            last.counted = not first_sight and last.outcome in COUNTED


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _config(plan: Plan) -> config.Config:
    # The upstream is in process: these URLs are never contacted.
    return config.from_mapping(
        {
            "api": {"base_url": "http://127.0.0.1:9/", "token_url": "http://127.0.0.1:9/token", "retries": 0},
            "auth": {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET},
            "cache": {"ttl": f"{int(plan.ttl)}s"},
            "endpoints": {"jobs": True, "protected": True, "services": True},
        }
    )


class _Families:
    """The month's samples grouped by family, one spool file each, so the result is one OpenMetrics exposition
    (a family's header once, its samples together) rather than thousands of concatenated scrapes."""

    def __init__(self, spool: Path, leave_out: tuple[str, ...] = ()) -> None:
        self._spool = spool
        self._leave_out = leave_out
        self._headers: dict[str, str] = {}
        self._files: dict[str, TextIO] = {}
        self.samples = 0

    @staticmethod
    def split(body: str) -> list[tuple[str, str, list[str]]]:
        """One scrape's families: (name, header lines, sample lines), from the encoder's `# HELP` lines, each
        sample with the target labels Prometheus adds when it scrapes (dashboards select on them)."""
        out: list[tuple[str, str, list[str]]] = []
        for line in body.splitlines():
            if line.startswith("# HELP "):
                out.append((line.split(" ", 3)[2], line + "\n", []))
            elif line.startswith("#"):
                name, header, lines = out[-1]
                out[-1] = (name, header + line + "\n", lines)
            else:
                name, brace, rest = line.partition("{")
                if brace:
                    sample = f"{name}{{{TARGET_LABELS},{rest}"
                else:
                    name, _, value = line.partition(" ")
                    sample = f"{name}{{{TARGET_LABELS}}} {value}"
                out[-1][2].append(sample)
        return out

    def write(self, families: list[tuple[str, str, list[str]]], stamp: str) -> None:
        # A timestamp after every sample (OpenMetrics allows one per sample); joined in C, not line by line.
        suffix = f" {stamp}\n"
        for name, header, lines in families:
            if not lines or name in self._leave_out:
                continue
            out = self._files.get(name)
            if out is None:
                self._headers[name] = header
                out = self._files[name] = (self._spool / f"{len(self._files)}.om").open("w", encoding="utf-8")
            out.write(suffix.join(lines) + suffix)
            self.samples += len(lines)

    def finish(self, path: Path) -> None:
        with path.open("w", encoding="utf-8") as result:
            for name, spooled in self._files.items():
                spooled.close()
                result.write(self._headers[name])
                lines = Path(spooled.name).read_text(encoding="utf-8").splitlines(keepends=True)
                # OpenMetrics keeps each series' samples together: a stable sort by the series (all but the
                # value and timestamp, which hold no space) keeps them in time order.
                lines.sort(key=lambda line: line.rsplit(" ", 2)[0])
                result.writelines(lines)
                Path(spooled.name).unlink()
            result.write("# EOF\n")


def generate(path: Path, plan: Plan | None = None) -> Month:
    """Write a month of scrapes to `path` (OpenMetrics, ending in `# EOF`) and return its truth.

    Each scrape is the exposition the exporter served at that step, its samples stamped with the step's time;
    families are kept whole (their samples in time order), as OpenMetrics requires.
    """
    plan = plan or Plan()
    began = time.monotonic()
    clock = _Clock(plan.start)
    scenario = Scenario(
        FleetSpec(customers=plan.customers, seed=plan.seed, jobs_per_customer=plan.jobs_per_customer), clock=clock
    )
    ids = scenario.customer_ids
    for index, organization in plan.names:
        scenario.rename_customer(ids[index], organization)
    added = ids[plan.added]
    scenario.remove_customer(added)
    # A module this customer does not have: the documented never-run row, all month.
    scenario.pin(ids[0], *NEVER_RUN)
    upstream = _Upstream(scenario, clock, plan)
    outage_customer, outage_module, outage_from, outage_to = plan.outage
    module = sorted(
        r
        for r in ((str(r["jobType"]), str(r["jobModule"])) for r in scenario.jobs(ids[outage_customer]))
        if r != NEVER_RUN
    )[outage_module]
    upstream.force_outage(ids[outage_customer], *module, plan.start + outage_from * DAY, plan.start + outage_to * DAY)

    restart_at = plan.start + plan.restart_day * DAY
    resume_at = restart_at + plan.restart_gap
    scrapes: list[float] = []
    instances: list[tuple[float, float]] = []
    refresher: Refresher | None = None
    cache = ExpositionCache()
    generation, families = -1, list[tuple[str, str, list[str]]]()
    with tempfile.TemporaryDirectory(prefix="month-", dir=path.parent) as spool:
        grouped = _Families(Path(spool), () if plan.counters else RUN_COUNTERS)
        step = 0
        while (now := plan.start + step * plan.step) <= plan.end:
            step += 1
            clock.now = now
            if restart_at <= now < resume_at:
                if refresher is not None:  # the exporter stops: no scrapes until it is back
                    refresher.close()
                    refresher = None
                continue
            if now >= plan.start + plan.added_day * DAY and added not in scenario.customer_ids:
                scenario.restore_customer(added)
            if refresher is None:
                upstream.instance = len(instances)
                instances.append((now, now))
                # A new process: its own refresher, cache and memory; no state file, so nothing is remembered.
                refresher = Refresher(_config(plan), upstream, clock=clock, wall_clock=clock)
                cache = ExpositionCache()
                generation = -1
            snap = refresher.snapshot_within(60.0)
            exposition = cache.get(snap)
            if exposition.generation != generation:  # the same data until the next refresh: split it once
                generation = exposition.generation
                families = grouped.split(exposition.openmetrics.body.decode())
            for cs in snap.customers:
                truth = upstream.truth.setdefault(cs.customer.id, upstream.customer_truth(cs.customer.id))
                first, _ = truth.exported.get(upstream.instance, (now, now))
                truth.exported[upstream.instance] = (first, now)
            grouped.write(families, f"{now:.0f}")
            scrapes.append(now)
            instances[-1] = (instances[-1][0], now)
        if refresher is not None:
            refresher.close()
        grouped.finish(path)
    return Month(path, plan, scrapes, instances, upstream.truth, grouped.samples, time.monotonic() - began)


@dataclass
class Backfilled:
    """A real Prometheus serving a generated month from blocks made by promtool."""

    month: Month
    url: str
    data: Path  # its TSDB folder (a copy serves another Prometheus)
    others: tuple[Month, ...] = ()  # more months in the same Prometheus (backfill's `others`)

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        return self._get("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        return self._get("/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step})

    def _get(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        body = requests.get(self.url + path, params=params, timeout=30).json()
        assert body["status"] == "success", (params, body)
        return list(body["data"]["result"])


def create_blocks(source: Path, data: Path) -> None:
    """promtool's backfill of an OpenMetrics file into TSDB blocks under `data`.

    --max-block-duration (a hidden flag of promtool 2.x) lets it make blocks of up to 20 days: at the default 2h
    it parses the whole file once per 2-hour block, 360 times for a month.
    """
    data.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=744h",
            "-q",
            str(source),
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"promtool could not backfill {source}: {done.stderr or done.stdout}")


def backfill(
    month: Month, tmp: Path, procs: list[subprocess.Popen[bytes]], port: int, others: tuple[Month, ...] = ()
) -> Backfilled:
    """The month's blocks in `tmp`/prom-data and Prometheus started on them (its process joins `procs`).

    Retention a year: Prometheus measures it from the newest block, and a month of blocks is older than the
    default 15 days at its start.
    """
    for each in (month, *others):
        create_blocks(each.path, tmp / "prom-data")
    url = start_prometheus(
        tmp, {"global": {"evaluation_interval": "1m"}}, port, procs, ("--storage.tsdb.retention.time=1y",)
    )
    return Backfilled(month, url, tmp / "prom-data", others)


def known_last_success(month: Month, job: JobTruth, at: float) -> float | None:
    """The last success the exporter exported for `job` at scrape time `at`: the newest success or warning run
    the running instance has seen finished by then (a new instance without a state file knows only what it has
    seen since its start, the run of its first sight included)."""
    life = next(((a, b) for a, b in month.instances if a <= at <= b), None)
    if life is None:
        return None
    index = month.instances.index(life)
    ends = [
        r.end
        for r in job.runs
        if r.outcome in ("success", "warning")
        and r.end is not None
        and r.finished_seen is not None
        and (
            life[0] <= r.finished_seen <= at
            # the finished run of this instance's first sight: known from its first refresh on
            or (index in r.first_sight and r.finished_seen <= life[0])
        )
    ]
    return max(ends) if ends else None


def longest_without_success(month: Month, job: JobTruth, start: float, end: float) -> float | None:
    """The longest age of the exported last success at any scrape in [start, end]; None if none was known."""
    ages = [
        at - known
        for at in month.scrapes
        if start <= at <= end and (known := known_last_success(month, job, at)) is not None
    ]
    return max(ages) if ages else None
