"""Fixtures every test directory shares. Builders and servers that tests call live in tests/support/."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port
from tests.support.harness import SCRIPT, stop_processes
from tests.support.month import GAUGES_ONLY, Backfilled, backfill, generate
from tests.support.pki import Pki, make_pki

# The modules that read the backfilled month's session fixtures (month_prometheus, month_report, below):
# tests/run's xdist scheduler sends them to one worker, which builds the month once (some 20 s) rather than
# once per worker. tests/unit/test_test_groups.py keeps the list complete.
MONTH_MODULES = frozenset(
    {
        "tests/artifacts/test_report_dashboard.py",
        "tests/integration/test_month.py",
        "tests/integration/test_report.py",
        "tests/integration/test_report_month.py",
    }
)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With `--dist loadfile` (tests/run): a module's tests on one worker, as xdist does, so a module fixture (a
    Prometheus, a simulator, a browser) starts once as in a serial run; and the MONTH_MODULES on one worker
    together. (xdist's own `loadgroup` marks are lost under pytest 9.2, which no longer reads `item._nodeid`.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class MonthTogether(LoadFileScheduling):  # type: ignore[misc]  # untyped: xdist ships no types
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return "month" if module in MONTH_MODULES else module

    return MonthTogether(config, log)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """One throwaway PKI for the whole run: making keys is the slow part of the TLS tests."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def month_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    """A simulated month of exporter history (tests/support/month.py) backfilled into a real Prometheus, once per
    run: some 10 s to generate and 10 s for promtool. Its `month` is the truth to compare query results with.
    `others` holds one more: a week of GAUGES_MONTH from an exporter without run counters (the report's
    fallback), two months earlier so that no query of the month reaches it."""
    tmp = tmp_path_factory.mktemp("month")
    month = generate(tmp / "month.om")
    gauges = generate(tmp / "gauges.om", GAUGES_ONLY)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        prometheus = backfill(month, tmp, procs, free_port(), (gauges,))
        month.path.unlink()  # some 250 MB, in TSDB blocks now
        gauges.path.unlink()
        yield prometheus
    finally:
        stop_processes(procs, tmp)


@pytest.fixture(scope="session")
def month_report(month_prometheus: Backfilled, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`avepoint-backup-exporter report` over the shared month, once per run (some 15 s: 30 days of 5-minute
    samples, and PDFs where Chromium is): the folder it wrote. An MSP name with HTML in it, to be escaped."""
    out = tmp_path_factory.mktemp("month-report")
    done = subprocess.run(
        [SCRIPT, "report", "--prometheus.url", month_prometheus.url, "--month", month_prometheus.month.plan.month,
         "--out", str(out), "--msp.name", "Contoso <MSP>"],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out
