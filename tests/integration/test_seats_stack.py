"""Seats and coverage for real: simulator (v3) -> the exporter's console script -> Prometheus with our rules.

The legacy stacks (test_stack.py, test_demo_stack.py) cannot show seats, which only v3 has: here the v3-only
dashboard panels run against real data, the coverage recording rule is compared with what the simulator
serves, and AvePointSeatsNearlyUsedUp goes pending for the simulator's one tenant nearly out of seats.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import yaml

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, FleetSpec, Simulator
from tests.support import ROOT, free_port
from tests.support.harness import SCRIPT, Stack, eventually, run_process, start_prometheus, stop_processes, wait_for

RULES = ROOT / "alerts" / "avepoint-backup.rules.yml"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not shutil.which("prometheus"), reason="Debian's prometheus is installed by tests/run"),
]


@pytest.fixture(scope="module")
def v3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("seats")
    procs: list[subprocess.Popen[bytes]] = []
    started = time.time()
    # A fixed clock: the simulated object counts grow with time, and the test compares them with Prometheus'.
    sim = Simulator(FleetSpec(customers=6, seed=4), clock=lambda: started)
    sim.start()
    try:
        (tmp / "secret").write_text(DEMO_CLIENT_SECRET)
        cfg = {
            "api": {"base_url": sim.base_url, "token_url": sim.token_url, "version": "v3"},
            "auth": {"client_id": DEMO_CLIENT_ID, "client_secret_file": "secret"},
            "cache": {"ttl": "5s"},
            "endpoints": {"protected": True, "services": True},
        }
        (tmp / "exporter.yml").write_text(yaml.safe_dump(cfg))
        port = free_port()
        exporter = run_process(
            [SCRIPT, f"--config.file={tmp / 'exporter.yml'}", f"--web.listen-address=127.0.0.1:{port}"],
            tmp / "exporter.log",
        )
        procs.append(exporter)
        wait_for(f"http://127.0.0.1:{port}/-/ready", exporter)
        prom_cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {"job_name": "avepoint-backup-exporter", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            ],
        }
        url = start_prometheus(tmp, prom_cfg, free_port(), procs)
        yield Stack(sim, url, None, ("", "", ""), ("", "", ""), "", sim.customer_ids)  # type: ignore[arg-type]
    finally:
        stop_processes(procs, tmp)
        sim.stop()


def test_the_v3_only_panels_and_the_coverage_panel_show_data(v3: Stack) -> None:
    from dashboards import generate

    eventually(lambda: bool(v3.query("avepoint:protected_coverage_ratio")), 60, "the coverage rule's first samples")
    instance = v3.query('avepoint_exporter_build_info{job="avepoint-backup-exporter"}')[0]["metric"]["instance"]
    # Seats are looked at for the customer with a tenant nearly out of them, coverage for one with protected data.
    covered = next(cid for cid in v3.sim.customer_ids if any(r["totalScannedObjects"] for r in v3.sim.protected(cid)))
    shown = {generate.SEATS_PANEL: v3.sim.customer_ids[0], "Coverage per module": covered}

    def values(title: str) -> dict[str, str]:
        customer_id = shown[title]
        organization = next(c["organization"] for c in v3.sim.customers if c["id"] == customer_id)
        return {
            "organization": organization,
            "customer_id": customer_id,
            "job": "avepoint-backup-exporter",
            "instance": instance,
            "datasource": "prometheus",
        }

    wanted = generate.V3_ONLY | {"Coverage per module"}
    queries = [
        (title, generate.substitute(expr, values(title), rate_interval="30s", interval="15s", range_="5m"))
        for dashboard in generate.build().values()
        for title, expr in generate.panel_queries(dashboard)
        if title in wanted
    ]
    assert {title for title, _ in queries} == wanted and len(queries) == 6
    empty = [f"{title}: {query}" for title, query in queries if not v3.query(query)]
    assert not empty, "queries with no series:\n" + "\n".join(empty)
    # The seats table's share column: the simulator's first customer has its tenant nearly out of seats.
    (share_query,) = [q for title, q in queries if title in generate.V3_ONLY and " / on(" in q]
    shares = [float(r["value"][1]) for r in v3.query(share_query)]
    assert len([share for share in shares if share > 0.9]) == 1


def test_the_coverage_rule_is_protected_over_scanned_where_something_was_scanned(v3: Stack) -> None:
    eventually(lambda: bool(v3.query("avepoint:protected_coverage_ratio")), 60, "the coverage rule's first samples")
    got = {
        (r["metric"]["customer_id"], r["metric"]["module"]): float(r["value"][1])
        for r in v3.query("avepoint:protected_coverage_ratio")
    }
    want = {}
    for cid in v3.sim.customer_ids:
        for row in v3.sim.protected(cid):
            scanned, protected = int(str(row["totalScannedObjects"])), int(str(row["totalProtectedObjects"]))
            if scanned:
                want[(cid, str(row["serviceModule"]))] = protected / scanned
    assert got.keys() == want.keys()
    assert all(abs(got[key] - want[key]) < 1e-9 for key in want)
    assert all(
        set(r["metric"]) >= {"customer_id", "service", "module", "job", "instance"}
        for r in v3.query("avepoint:protected_coverage_ratio")
    )


def test_the_seats_alert_is_pending_for_the_tenant_nearly_out_of_seats_only(v3: Stack) -> None:
    query = 'ALERTS{alertname="AvePointSeatsNearlyUsedUp"}'
    eventually(lambda: bool(v3.query(query)), 60, "AvePointSeatsNearlyUsedUp pending")
    (alert,) = v3.query(query)
    labels = alert["metric"]
    first = v3.sim.customer_ids[0]
    tenant = v3.sim.seats(first, 0)[0]
    assert (labels["alertstate"], labels["customer_id"], labels["tenant_id"], labels["tenant_type"]) == (
        "pending",  # for: 1h
        first,
        tenant["tenantId"],
        "Microsoft 365",
    )
    assert labels["organization"] == next(c["organization"] for c in v3.sim.customers if c["id"] == first)
