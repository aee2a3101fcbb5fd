"""The monthly report against the shared month of exporter history (tests/support/month.py: the real Refresher
and encoder over a simulated month, backfilled into a real Prometheus): every number of every customer's page
against the truth the simulator served, run counters included (issue 16's "done when")."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exporter.report.html import duration
from tests.integration.test_report import Tables, parse
from tests.support.month import Backfilled, CustomerTruth, JobTruth, Month, Run

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) is not installed"),
]
GOOD = ("success", "warning")


def utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def period_end(month: Month) -> float:
    return month.start + month.plan.days * 86400


def counted(customer: CustomerTruth, job: JobTruth, month: Month) -> list[Run]:
    """The runs the run counters count: finished in the month, except the baseline of the exporter instance
    that saw the run first (already finished at that instance's first sight of its job, README "Run
    history"); a later instance's baseline was counted by the earlier one."""
    return [
        r
        for r in job.finished(month.start, period_end(month))
        if not (r.instance in r.first_sight and r.end is not None and r.end <= customer.exported[r.instance][0])
    ]


def expected_gap(customer: CustomerTruth, job: JobTruth, month: Month) -> tuple[float, float, bool]:
    begin = customer.first_exported
    known = [r.end for r in job.finished() if r.outcome in GOOD and r.end is not None]
    prior = [t for t in known if t < begin]
    edges = [(max(prior), False) if prior else (begin, True)]
    edges += [(t, False) for t in sorted(t for t in known if begin <= t <= period_end(month))]
    ends = [t for t, _ in edges[1:]] + [period_end(month)]
    return max(((a, b, o) for (a, o), b in zip(edges, ends, strict=True)), key=lambda g: g[1] - g[0])


def check(out: Path, month: Month) -> None:
    for customer in month.customers.values():
        page: Tables = parse(out / f"report-{customer.id}-{month.plan.month}.html")
        rows = {r[0].split(" not measured before")[0]: r for r in page.tables["jobs"][1:]}
        assert set(rows) == {f"{t} / {m}" for t, m in customer.jobs}
        failures_listed = [r for r in page.tables.get("failed", [])[1:]]
        for (job_type, module), job in customer.jobs.items():
            row = rows[f"{job_type} / {module}"]
            if job.never_ran:
                assert row[1:] == ["0", "0", *["never ran"] * 5], row
                continue
            runs = counted(customer, job, month)
            good = sum(r.outcome in GOOD for r in runs)
            ratio_base = sum(r.outcome in ("success", "warning", "failed", "unknown") for r in runs)
            assert row[1] == str(len(runs)), (customer.id, module)
            assert row[2] == str(sum(r.outcome == "failed" for r in runs)), (customer.id, module)
            assert row[3] == f"{good / ratio_base * 100:.1f} %", (customer.id, module)
            last = job.last_success(period_end(month))
            assert last is not None and row[4] == utc(last), (customer.id, module)
            a, b, is_open = expected_gap(customer, job, month)
            assert row[5] == f"{'at least ' if is_open else ''}{duration(b - a)} {utc(a)} \N{EN DASH} {utc(b)}"
            assert job.objects is not None and job.size_bytes is not None
            assert row[6].startswith(f"{job.objects:,.0f} ("), (row, job.objects)
            assert row[7].startswith(f"{job.size_bytes / 2**30:,.1f} GiB ("), (row, job.size_bytes)
            failed = sorted(r.start for r in job.finished(month.start, period_end(month)) if r.outcome == "failed")
            assert [r[0] for r in failures_listed if r[2] == f"{job_type} / {module}"] == [utc(t) for t in failed]
        for (service, module), (protected, scanned) in customer.protected.items():
            (prow,) = [r for r in page.tables["protected"][1:] if r[0] == f"{service} / {module}"]
            assert prow[1:3] == [f"{scanned:,}", f"{protected:,}"]
        for service, expiry in customer.expiry.items():
            (srow,) = [r for r in page.tables["subscriptions"][1:] if r[0] == service]
            assert srow[2].startswith(expiry[:10]), (srow, expiry)
        holes = [f"not measured from {utc(month.instances[0][1])} to {utc(month.instances[1][0])}"]
        if customer.first_exported > month.start:
            holes.insert(0, f"not measured before {utc(customer.first_exported)}")
        assert page.texts["measured"] == "; ".join(holes).capitalize() + "."


def test_every_customer_page_holds_the_month_the_simulator_served(
    month_prometheus: Backfilled, month_report: Path
) -> None:
    month = month_prometheus.month
    # What makes the month worth checking against: the restart, the customer added mid-month, a never-run
    # module, failures, and runs the counters leave out as a baseline.
    assert len(month.instances) == 2
    assert any(c.first_exported > month.start for c in month.customers.values())
    assert any(j.never_ran for j in month.jobs())
    assert any(
        len(counted(c, j, month)) != len(j.finished(month.start, period_end(month)))
        for c in month.customers.values()
        for j in c.jobs.values()
    )
    check(month_report, month)
    fleet = parse(month_report / f"fleet-{month.plan.month}.html").tables["fleet"]
    assert sorted(r[0].split(" not measured")[0] for r in fleet[1:]) == sorted(
        c.organization for c in month.customers.values()
    )
    if shutil.which("pdftotext") and shutil.which("chromium"):
        # The PDFs hold the same page: each customer's summary line, the fleet page every organization.
        def text(name: str) -> str:
            return subprocess.run(
                ["pdftotext", str(month_report / name), "-"], capture_output=True, text=True, check=True
            ).stdout

        fleet_text = " ".join(text(f"fleet-{month.plan.month}.pdf").split())  # a long name wraps in its cell
        for customer in month.customers.values():
            assert " ".join(customer.organization.split()) in fleet_text, fleet_text
            summary = parse(month_report / f"report-{customer.id}-{month.plan.month}.html").texts["summary"]
            assert summary in " ".join(text(f"report-{customer.id}-{month.plan.month}.pdf").split())


def test_the_longest_gap_is_the_dashboards(month_prometheus: Backfilled, month_report: Path) -> None:
    """The page's longest time without a success and the Backup report dashboard's query (max_over_time of the
    last success's age, every 5 minutes) agree per job, to the exporter's refresh interval, the dashboard's
    step and the page's minute, a gap from a success before the month included."""
    month = month_prometheus.month
    end = period_end(month)
    compared = 0
    for customer in month.customers.values():
        page = parse(month_report / f"report-{customer.id}-{month.plan.month}.html")
        for row in page.tables["jobs"][1:]:
            spans = re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d)", row[5])
            if len(spans) != 2 or row[5].startswith("at least"):
                continue  # never ran, or no earlier success known: the dashboard has no age to compare
            a, b = (datetime.strptime(s, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp() for s in spans)
            job_type, module = row[0].split(" not measured before")[0].split(" / ", 1)
            selector = (f'avepoint_backup_job_last_success_timestamp_seconds{{customer_id="{customer.id}",'
                        f'job_type="{job_type}",job_module="{module}"}}')  # fmt: skip
            seconds = int(end - month.start)
            (result,) = month_prometheus.query(f"max(max_over_time((time() - {selector})[{seconds}s:5m]))", end)
            # The exporter learns of a success at its next refresh (cache.ttl later at most): the dashboard's age
            # runs on until then; the page has the run's own end time.
            late = float(result["value"][1]) - (b - a)
            assert -360 <= late <= month.plan.ttl + 360, (customer.id, module, row[5], late)
            compared += 1
    assert compared >= 5
