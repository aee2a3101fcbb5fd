"""The monthly report when one exporter's series come from two scrape targets at once (two Prometheus jobs, or a
second exporter for the same customers): backfilled into a real Prometheus, the runs are counted once, the page
says so, and --prometheus.selector picks one target."""

from __future__ import annotations

import html
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_report import parse
from tests.integration.test_report_month import counted
from tests.support import free_port
from tests.support.harness import SCRIPT, start_prometheus, stop_processes
from tests.support.month import INSTANCE, Month, Plan, create_blocks, generate

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) is not installed"),
]
# Three days are enough: no restart, the second customer listed from day 1, an outage on day 1.
PLAN = Plan(days=3, customers=2, added=1, added_day=1.0, restart_day=10.0, outage=(0, 0, 0.5, 1.5), names=())
SECOND = "exporter-b:9877"


def doubled(source: Path, target: Path) -> None:
    """The month as scraped from two targets at the same times: each family's series again with another
    instance label (after the first target's, so each series' samples stay together)."""
    with source.open(encoding="utf-8") as lines, target.open("w", encoding="utf-8") as out:
        copies: list[str] = []
        for line in lines:
            if line.startswith(("# HELP", "# EOF")):
                out.writelines(copies)
                copies = []
            out.write(line)
            if not line.startswith("#"):
                copies.append(line.replace(f'instance="{INSTANCE}"', f'instance="{SECOND}"', 1))


@pytest.fixture(scope="module")
def two_targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Month]]:
    tmp = tmp_path_factory.mktemp("targets")
    month = generate(tmp / "one.om", PLAN)
    doubled(month.path, tmp / "two.om")
    create_blocks(tmp / "two.om", tmp / "prom-data")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield start_prometheus(tmp, {"global": {}}, free_port(), procs, ("--storage.tsdb.retention.time=1y",)), month
    finally:
        stop_processes(procs, tmp)


def report(url: str, out: Path, *extra: str) -> None:
    done = subprocess.run(
        [SCRIPT, "report", "--prometheus.url", url, "--month", PLAN.month, "--out", str(out), "--pdf", "off", *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def check_counts(out: Path, month: Month) -> list[str]:
    """Every module's runs and failed runs as the run counters counted them once; the pages' text."""
    texts = []
    for customer in month.customers.values():
        path = out / f"report-{customer.id}-{month.plan.month}.html"
        page = parse(path)
        rows = {r[0].split(" not measured before")[0]: r for r in page.tables["jobs"][1:]}
        for (job_type, module), job in customer.jobs.items():
            if job.never_ran:
                continue
            runs = counted(customer, job, month)
            row = rows[f"{job_type} / {module}"]
            assert row[1:3] == [str(len(runs)), str(sum(r.outcome == "failed" for r in runs))], (customer.id, row)
        texts.append(html.unescape(path.read_text()))
    return texts


def test_two_targets_at_once_are_counted_once_and_said(two_targets: tuple[str, Month], tmp_path: Path) -> None:
    url, month = two_targets
    report(url, tmp_path / "all")
    pages = check_counts(tmp_path / "all", month)
    said = [p for p in pages if "counted from one of them, not summed" in p]
    assert len(said) == len(month.customers)
    assert all(f'instance="{INSTANCE}"' in p and f'instance="{SECOND}"' in p for p in said)


def test_the_selector_picks_one_target(two_targets: tuple[str, Month], tmp_path: Path) -> None:
    url, month = two_targets
    report(url, tmp_path / "one", "--prometheus.selector", f'instance="{SECOND}"')
    pages = check_counts(tmp_path / "one", month)
    assert not any("more than one scrape target" in p for p in pages)
