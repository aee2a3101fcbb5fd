"""The "Backup report" dashboard against a month of history: every query, with the dashboard's variables
substituted, run by real Prometheus on the backfilled month (tests/support/month.py) and compared with the
truth the generator wrote. `pytest -s` prints what each query returned (the closing note quotes it)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from dashboards import generate
from tests.support import ROOT
from tests.support.month import DAY, Backfilled, CustomerTruth, JobTruth, Month, longest_without_success

# The first test to use the session's month waits for it to be generated and backfilled (some 20 s idle).
pytestmark = pytest.mark.timeout(300)
REPORT = generate.build()["avepoint-report.json"]
FINISHED = ("success", "warning", "failed", "canceled", "unknown")
JUDGED = ("success", "warning", "failed", "unknown")
# The longest gap is sampled every 5 minutes; at the exporter's restart Prometheus' lookback finds the sample
# before the gap for one more step.
GAP_TOLERANCE = 300.0


@dataclass(frozen=True)
class Query:
    panel: str
    ref: str
    expr: str  # as Grafana sends it for the chosen customer and the month
    instant: bool
    step: float


def queries(values: dict[str, str], month: Month) -> Iterator[Query]:
    span = f"{int(month.end - month.start) + 1}s"  # the whole month: its first scrape to its last
    for p in generate.all_panels(REPORT):
        for t in p.get("targets", []):
            step = DAY if t.get("interval") == "1d" else 3600.0
            expr = generate.substitute(t["expr"], values, range_=span)
            yield Query(p["title"], t["refId"], expr, bool(t.get("instant")), step)


def run(prom: Backfilled, q: Query) -> list[dict[str, Any]]:
    month = prom.month
    if q.instant:
        return prom.query(q.expr, month.end)
    start = month.start + DAY if q.step == DAY else month.start
    return prom.query_range(q.expr, start, month.start + 30 * DAY if q.step == DAY else month.end, q.step)


def show(label: str, q: Query, result: list[dict[str, Any]]) -> None:
    """One line per series: what the lead quotes instead of a screenshot."""
    print(f"\n[{label}] {q.panel} / {q.ref}: {len(result)} series")
    for series in result:
        m = series["metric"]
        name = " ".join(str(m[k]) for k in ("organization", "job_module", "outcome", "service", "module") if k in m)
        if "value" in series:
            print(f"    {name or '(total)'}: {float(series['value'][1]):.6g}")
        else:
            values = [float(v) for _, v in series["values"]]
            first = time.strftime("%Y-%m-%d", time.gmtime(float(series["values"][0][0])))
            last, total = values[-1], sum(values)
            print(f"    {name or '(total)'}: {len(values)} points from {first}, last {last:.6g}, sum {total:.6g}")


def by_module(result: list[dict[str, Any]]) -> dict[str, float]:
    return {s["metric"]["job_module"]: float(s["value"][1]) for s in result}


def by_customer(result: list[dict[str, Any]]) -> dict[str, float]:
    return {s["metric"]["customer_id"]: float(s["value"][1]) for s in result}


def only(result: list[dict[str, Any]]) -> float:
    [series] = result
    return float(series["value"][1])


def counted(jobs: list[JobTruth], outcomes: tuple[str, ...], month: Month) -> int:
    return sum(j.counted(o, month.start, month.end) for j in jobs for o in outcomes)


def ratio(jobs: list[JobTruth], month: Month) -> float | None:
    judged = counted(jobs, JUDGED, month)
    return counted(jobs, ("success", "warning"), month) / judged if judged else None


def gap(jobs: list[JobTruth], month: Month) -> float | None:
    gaps = [g for j in jobs if (g := longest_without_success(month, j, month.start, month.end)) is not None]
    return max(gaps) if gaps else None


def customer_value(ref: str, jobs: list[JobTruth], month: Month) -> float | None:
    """What column `ref` of the "Customers" table must show for a customer with `jobs`."""
    if ref == "A":
        return float(counted(jobs, FINISHED, month))
    if ref == "B":
        return float(counted(jobs, ("failed",), month))
    if ref == "C":
        return ratio(jobs, month)
    if ref == "D":
        return gap(jobs, month)
    return sum(j.size_bytes or 0.0 for j in jobs)  # E


def job_value(ref: str, job: JobTruth, customer: CustomerTruth, month: Month) -> float | None:
    """What column `ref` of the "Backup jobs" table must show for `job`."""
    if ref == "A":
        return float(counted([job], FINISHED, month))
    if ref == "B":
        return float(counted([job], ("failed",), month))
    if ref == "C":
        return ratio([job], month)
    if ref == "D":
        return longest_without_success(month, job, month.start, month.end)
    if ref == "E":
        return job.size_bytes
    return 1000 * customer.first_exported  # F: counted since its first sight (the first exporter's)


def check(q: Query, result: list[dict[str, Any]], month: Month, customers: list[CustomerTruth]) -> None:
    """The number(s) a query returned against the truth of `customers` (one, or all for "All")."""
    jobs = [j for c in customers for j in c.jobs.values()]
    ran = [j for j in jobs if j.runs]
    key = (q.panel, q.ref)
    if key == ("Backup runs", "A"):
        assert only(result) == counted(jobs, FINISHED, month)
    elif key == ("Failed runs", "A"):
        assert only(result) == counted(jobs, ("failed",), month)
    elif key == ("Success ratio", "A"):
        assert only(result) == pytest.approx(ratio(jobs, month))
    elif key == ("Longest without a success", "A"):
        assert only(result) == pytest.approx(gap(jobs, month), abs=GAP_TOLERANCE)
    elif key == ("Backup size at the end", "A"):
        assert only(result) == pytest.approx(sum(j.size_bytes or 0.0 for j in ran), rel=1e-6)
    elif q.panel == "Customers":
        want: dict[str, float | None] = {c.id: customer_value(q.ref, list(c.jobs.values()), month) for c in customers}
        got = by_customer(result)
        assert set(got) == {cid for cid, v in want.items() if v is not None}
        for cid, value in got.items():
            tolerance = GAP_TOLERANCE if q.ref == "D" else 1e-9 * max(1.0, abs(want[cid] or 0.0))
            assert value == pytest.approx(want[cid], abs=tolerance), (q.ref, cid)
        assert all(s["metric"]["organization"] for s in result)  # named, for the report's reader
    elif q.panel == "Backup jobs":
        for c in customers:
            mine = {s["metric"]["job_module"]: s for s in result if s["metric"]["customer_id"] == c.id}
            got = {module: float(s["value"][1]) for module, s in mine.items()}
            for job in c.jobs.values():
                expected = job_value(q.ref, job, c, month)
                if expected is None:  # never ran, never judged, never succeeded: no data, not a 0
                    assert job.job_module not in got, (q.ref, job.job_module)
                    continue
                tolerance = GAP_TOLERANCE if q.ref == "D" else 1e-6 * max(1.0, abs(expected))
                assert got[job.job_module] == pytest.approx(expected, abs=tolerance), (q.ref, job.job_module)
    elif q.panel == "Backup runs per day":
        days = {s["metric"]["outcome"]: s["values"] for s in result}
        assert set(days) <= set(FINISHED)
        for outcome, points in days.items():
            for at, value in points:
                t = float(at)
                want_day = sum(j.counted(outcome, t - DAY + 1, t) for j in jobs)
                assert float(value) == want_day, (outcome, time.strftime("%Y-%m-%d", time.gmtime(t)))
        total = sum(float(v) for points in days.values() for _, v in points)
        assert total == counted(jobs, FINISHED, month)
    elif q.panel == "Backup size":
        assert {s["metric"]["job_module"] for s in result} == {j.job_module for j in ran}
        for series in result:
            first = float(series["values"][0][0])
            cid = series["metric"]["customer_id"]
            truth = next(c for c in customers if c.id == cid)
            # A customer added mid-month has no points before it was (missing, not drawn as 0).
            assert first >= truth.first_exported - 3600, (cid, first)
    elif q.panel == "Subscriptions":
        want_dates = {(c.id, service, date) for c in customers for service, date in c.expiry.items()}
        got_dates = {
            (
                s["metric"]["customer_id"],
                s["metric"]["service"],
                time.strftime("%Y-%m-%d", time.gmtime(float(s["value"][1]) / 1000)),
            )
            for s in result
        }
        assert got_dates == want_dates
    elif q.panel in ("Coverage", "Lowest coverage"):
        want_cover = {
            (c.id, service, module): protected / scanned
            for c in customers
            for (service, module), (protected, scanned) in c.protected.items()
            if scanned > 0
        }
        if q.panel == "Lowest coverage":
            assert only(result) == pytest.approx(min(want_cover.values())) if want_cover else not result
        else:
            got_cover = {
                (s["metric"]["customer_id"], s["metric"]["service"], s["metric"]["module"]): float(s["value"][1])
                for s in result
            }
            assert got_cover == pytest.approx(want_cover)
    else:
        raise AssertionError(f"no check for {key}: add one")


@pytest.fixture(scope="module")
def month(month_prometheus: Backfilled) -> Month:
    return month_prometheus.month


def test_every_report_query_agrees_with_the_month_for_each_customer(month_prometheus: Backfilled, month: Month) -> None:
    for customer in month.customers.values():
        values = {"organization": customer.organization, "customer_id": customer.id}
        for q in queries(values, month):
            result = run(month_prometheus, q)
            show(customer.organization, q, result)
            check(q, result, month, [customer])


def test_every_report_query_agrees_with_the_month_for_the_fleet(month_prometheus: Backfilled, month: Month) -> None:
    """ "All": the organization and customer variables at their allValue."""
    for q in queries({"organization": ".+", "customer_id": ".+"}, month):
        result = run(month_prometheus, q)
        show("All", q, result)
        check(q, result, month, list(month.customers.values()))


def test_the_month_has_what_the_report_must_show(month: Month) -> None:
    """Failures, an outage of days, a restart, a customer added mid-month, a job that never ran: else the
    comparisons above prove little."""
    jobs = list(month.jobs())
    assert counted(jobs, ("failed",), month) >= 5
    assert len(month.instances) == 2
    assert any(not j.runs for j in jobs)
    assert max(c.first_exported for c in month.customers.values()) > month.start + 5 * DAY
    assert (gap(jobs, month) or 0) > 3 * DAY
    # The restart: runs the first exporter counted, and runs the second counted after its first sight.
    restart = month.instances[1][0]
    assert any(r.counted and r.finished_seen and r.finished_seen > restart for j in jobs for r in j.runs)
    assert any(r.counted and r.instance == 0 for j in jobs for r in j.runs)
    # Seen by both exporters (the second's first sight), counted once.
    assert any(1 in r.first_sight and r.instance == 0 for j in jobs for r in j.runs)


def test_the_success_ratio_rules_agree_with_the_month(month_prometheus: Backfilled, month: Month) -> None:
    """The six recording rules' expressions, run at the month's end, against the runs counted in each window
    (increase() extrapolates a window's edges, by the same share for success and failure: within 1%)."""
    groups = yaml.safe_load((ROOT / "alerts" / "avepoint-backup.rules.yml").read_text())["groups"]
    rules = {r["record"]: r["expr"] for g in groups for r in g["rules"] if "success_ratio" in r.get("record", "")}
    assert len(rules) == 6
    for name, expr in rules.items():
        window = {"1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}[name.rsplit(":", 1)[1]]
        start = month.end - window
        result = month_prometheus.query(expr, month.end)
        print(
            f"\n[rule] {name}: "
            + ", ".join(
                f"{s['metric'].get('job_module', s['metric']['customer_id'][:8])} {float(s['value'][1]):.4f}"
                for s in result
            )
        )
        for customer in month.customers.values():
            groups_of = (
                [[j] for j in customer.jobs.values()]
                if name.startswith("avepoint:")
                else [list(customer.jobs.values())]
            )
            for jobs in groups_of:
                judged = sum(j.counted(o, start + 1, month.end) for j in jobs for o in JUDGED)
                ok = sum(j.counted(o, start + 1, month.end) for j in jobs for o in ("success", "warning"))
                mine = [
                    s
                    for s in result
                    if s["metric"]["customer_id"] == customer.id
                    and (not name.startswith("avepoint:") or s["metric"]["job_module"] == jobs[0].job_module)
                ]
                if not judged:
                    assert not mine, (name, customer.organization)  # no run finished: no sample
                    continue
                assert float(mine[0]["value"][1]) == pytest.approx(ok / judged, rel=0.01), (name, customer.id)


def test_the_ratio_alert_names_the_customers_under_the_threshold(month_prometheus: Backfilled, month: Month) -> None:
    groups = yaml.safe_load((ROOT / "alerts" / "avepoint-backup.rules.yml").read_text())["groups"]
    [expr] = [r["expr"] for g in groups for r in g["rules"] if r.get("alert") == "AvePointBackupSuccessRatioLow"]
    firing = {s["metric"]["organization"]: float(s["value"][1]) for s in month_prometheus.query(expr, month.end)}
    print(f"\n[alert] AvePointBackupSuccessRatioLow at the month's end: {firing}")
    start = month.end - 7 * DAY + 1
    want = set()
    for c in month.customers.values():
        judged = sum(j.counted(o, start, month.end) for j in c.jobs.values() for o in JUDGED)
        ok = sum(j.counted(o, start, month.end) for j in c.jobs.values() for o in ("success", "warning"))
        if judged and ok / judged < 0.9:
            want.add(c.organization)
    assert set(firing) == want and want  # the month has a customer under 90%, and one over
    assert len(want) < len(month.customers)
