"""Every panel of every shipped dashboard shows data against `--demo`, scraped by a real Prometheus."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from avepoint_simulator import FleetSpec, Simulator
from tests.support import free_port
from tests.support.dashboards import live_queries
from tests.support.harness import SCRIPT, Stack, eventually, run_process, start_prometheus, stop_processes, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not shutil.which("prometheus"), reason="Debian's prometheus is installed by tests/run"),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("demo")
    procs: list[subprocess.Popen[bytes]] = []
    # The fleet --demo serves (exporter/cli.py _demo): built here too, unstarted, to name its customers.
    fleet = Simulator(FleetSpec(customers=12, seed=1))
    try:
        port = free_port()
        exporter = run_process([SCRIPT, "--demo", f"--web.listen-address=127.0.0.1:{port}"], tmp / "exporter.log")
        procs.append(exporter)
        wait_for(f"http://127.0.0.1:{port}/-/ready", exporter)
        prom_port = free_port()
        prom_cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {"job_name": "avepoint-backup-exporter", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            ],
        }
        url = start_prometheus(tmp, prom_cfg, prom_port, procs)
        ids = fleet.customer_ids
        yield Stack(fleet, url, None, ("", "", ""), ("", "", ""), "", ids)  # type: ignore[arg-type]
    finally:
        stop_processes(procs, tmp)


def test_every_panel_shows_data_against_the_demo(demo: Stack) -> None:
    eventually(lambda: bool(demo.query("count_over_time(avepoint_up[30s]) > 10")), 60, "30 s of scrapes")
    # The customer dashboard is looked at for a customer with a successful job, as a user picks one.
    customer_id = demo.query("avepoint_backup_job_last_success_timestamp_seconds")[0]["metric"]["customer_id"]
    organization = next(c["organization"] for c in demo.sim.customers if c["id"] == customer_id)
    values = {
        "organization": organization,
        "customer_id": customer_id,
        "job": "avepoint-backup-exporter",
        # The exporter's target, as the dashboards' instance variable offers it.
        "instance": demo.query('avepoint_exporter_build_info{job="avepoint-backup-exporter"}')[0]["metric"]["instance"],
        "datasource": "prometheus",
    }
    queries = live_queries(values)
    empty = [f"{name} / {title}: {query}" for name, title, query in queries if not demo.query(query)]
    assert len(queries) >= 40
    assert not empty, "panels without data against --demo:\n" + "\n".join(empty)


def test_no_panel_shows_an_exporter_other_than_the_chosen_one(demo: Stack) -> None:
    # Prometheus scrapes one exporter; a dashboard pointed at another instance of the same job must show
    # nothing of it: no series, or only the zero of an `or vector(0)`. An unscoped selector fails here.
    from dashboards import generate

    eventually(lambda: bool(demo.query("count_over_time(avepoint_up[30s]) > 10")), 60, "30 s of scrapes")
    some = demo.query("avepoint_backup_job_status")[0]["metric"]
    values = {
        "organization": next(c["organization"] for c in demo.sim.customers if c["id"] == some["customer_id"]),
        "customer_id": some["customer_id"],
        "job": "avepoint-backup-exporter",
        "instance": "127.0.0.1:1",  # a target this Prometheus does not scrape
        "datasource": "prometheus",
    }
    leaks, checked = [], 0
    for name, dashboard in generate.build().items():
        for title, expr in generate.panel_queries(dashboard):
            query = generate.substitute(expr, values, rate_interval="30s", interval="15s", range_="5m")
            checked += 1
            shown = [r for r in demo.query(query) if r["metric"] or float(r["value"][1]) != 0]
            if shown:
                leaks.append(f"{name} / {title}: {query} -> {shown[:2]}")
    assert checked >= 40
    assert not leaks, "panels showing an exporter that is not the chosen one:\n" + "\n".join(leaks)


def test_the_demo_reads_every_endpoint_group(demo: Stack) -> None:
    endpoints = {r["metric"]["endpoint"] for r in demo.query("avepoint_refresh_success == 1")}
    assert {"customers", "jobs", "protected", "services", "scan_profiles"} <= endpoints
    # No module named by a bare number: the legacy demo spells Salesforce's module as legacy does.
    modules = {r["metric"]["job_module"] for r in demo.query("avepoint_backup_job_status")}
    assert modules and not any(m.isdigit() for m in modules), modules
