"""The status page's kept rows on the real refresh path: a refresh that brought nothing new keeps every row's body.

rows.py keeps a row's cells, scan profiles, coverage and seats while the CustomerState's data objects are the
same objects; that holds only because the refresher (refresh/customer.py `applied`) keeps them when a refresh
brought equal data. The unit tests build such states by hand: this drives a real Refresher against the
simulator over loopback, with every endpoint group that feeds a row, in both API generations.
"""

from __future__ import annotations

import time

import pytest

from avepoint_simulator import FleetSpec, Simulator
from exporter.refresh import Refresher
from exporter.upstream import Client
from exporter.web.status import view
from exporter.web.status.rows import RowCache
from tests.support.harness import Clock, make_config
from tests.support.views import PROCESS

CUSTOMERS = 12
FIXED = 1_760_000_000.0  # the simulator's clock: its fleet does not change between the two refreshes


@pytest.mark.parametrize("version", ["legacy", "v3"])
def test_a_refresh_that_brought_nothing_new_builds_no_row_body(version: str) -> None:
    clock = Clock()
    with Simulator(FleetSpec(customers=CUSTOMERS, seed=5), clock=lambda: FIXED) as sim:
        cfg = make_config(
            sim, api={"version": version}, endpoints={"protected": True, "scan_profiles": True, "services": True}
        )
        refresher = Refresher(cfg, Client(cfg.api, cfg.auth), clock=clock)
        try:
            rows = RowCache()
            now = time.time()
            first = refresher.snapshot_within(30)
            rows.build(first, PROCESS, now)
            assert rows.built == CUSTOMERS
            clock.now += cfg.cache.ttl + 1  # every customer due: refreshed again, the same data served
            second = refresher.snapshot_within(30)
        finally:
            refresher.close()
    assert second.generation != first.generation
    before = {cs.customer.id: cs for cs in first.customers}
    # Every customer was refreshed (new attempts) and nothing it showed changed.
    assert all(cs.attempt.last_success != before[cs.customer.id].attempt.last_success for cs in second.customers)
    for field in view.BODY_FIELDS:
        assert all(getattr(cs, field) is getattr(before[cs.customer.id], field) for cs in second.customers), field
    kept = rows.build(second, PROCESS, now)
    assert (rows.built, rows.finished) == (0, CUSTOMERS)
    assert kept == view.build(second, PROCESS, now)
