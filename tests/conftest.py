"""Fixtures every test directory shares. Builders and servers that tests call live in tests/support/."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import free_port
from tests.support.harness import SCRIPT, stop_processes
from tests.support.month import GAUGES_ONLY, Backfilled, backfill, generate
from tests.support.pki import Pki, make_pki


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
