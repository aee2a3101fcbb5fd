"""The whole chain, for real: simulator -> exporter -> Prometheus (our rules) -> Alertmanager -> webhook.

A scripted scenario makes one module fail and another go stale. Time is compressed: the stale module's
expected interval is a minute, every `for:` of the rules becomes a few seconds, the cache TTL two seconds.
The dashboards' queries run against the same Prometheus.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import yaml

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, FleetSpec, Simulator
from tests.support import ROOT, free_port
from tests.support.dashboards import live_queries
from tests.support.harness import (
    SCRIPT,
    Receiver,
    Stack,
    eventually,
    run_process,
    start_prometheus,
    stop_processes,
    wait_for,
)

RULES = ROOT / "alerts" / "avepoint-backup.rules.yml"
AM_EXAMPLE = ROOT / "alerts" / "alertmanager.example.yml"
COMPRESSED_FOR = "2s"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("prometheus-alertmanager")),
        reason="Debian's prometheus and prometheus-alertmanager are installed by tests/run",
    ),
]


def start_receiver(receiver: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with receiver.lock:
                receiver.notifications.append(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def scenario(sim: Simulator) -> tuple[list[str], tuple[str, str, str], tuple[str, str, str]]:
    """Three customers (capacity- and seat-based subscriptions among them), every module healthy except one
    failing and one stale module of the first."""
    customers = sim.customer_ids[:3]
    now = time.time()
    for cid in customers:
        for row in sim.jobs(cid):
            sim.pin(
                cid,
                str(row["jobType"]),
                str(row["jobModule"]),
                status="Finished",
                jobId=f"job-{cid[:8]}-{row['jobModule']}",
                name="Nightly",
                failedCount="0",
                startTime=iso(now - 900),
                endTime=iso(now - 300),
                lastModifyTime=iso(now - 300),
            )
    rows = sim.jobs(customers[0])
    failing = (customers[0], str(rows[0]["jobType"]), str(rows[0]["jobModule"]))
    stale = (customers[0], str(rows[1]["jobType"]), str(rows[1]["jobModule"]))
    sim.pin(*failing, status="Failed", failedCount="12")
    sim.pin(*stale, endTime=iso(now - 7200), startTime=iso(now - 7300), lastModifyTime=iso(now - 7200))
    return customers, failing, stale


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    procs: list[subprocess.Popen[bytes]] = []
    receiver = Receiver()
    hook = start_receiver(receiver)
    sim = Simulator(FleetSpec(customers=4, seed=9))
    sim.start()
    try:
        customers, failing, stale = scenario(sim)
        # The exporter, as users run it: the console script with a config file.
        exporter_port = free_port()
        (tmp / "secret").write_text(DEMO_CLIENT_SECRET)
        exporter_cfg = {
            "api": {"base_url": sim.base_url, "token_url": sim.token_url, "max_requests_per_second": 100},
            "auth": {"client_id": DEMO_CLIENT_ID, "client_secret_file": "secret"},
            "customers": {"include": customers},
            "jobs": {
                "expected_interval_overrides": [{"customer_id": stale[0], "job_module": stale[2], "interval": "1m"}]
            },
            "cache": {"ttl": "2s"},
            "endpoints": {"protected": True, "services": True, "scan_profiles": True},
        }
        (tmp / "exporter.yml").write_text(yaml.safe_dump(exporter_cfg))
        exporter = run_process(
            [SCRIPT, f"--config.file={tmp / 'exporter.yml'}", f"--web.listen-address=127.0.0.1:{exporter_port}"],
            tmp / "exporter.log",
        )
        procs.append(exporter)
        wait_for(f"http://127.0.0.1:{exporter_port}/-/ready", exporter)

        # Alertmanager with the example config: only the receivers' addresses and the waits changed.
        am_port = free_port()
        am_cfg = yaml.safe_load(AM_EXAMPLE.read_text())
        am_cfg["templates"] = [str(ROOT / "alerts" / "templates" / "*.tmpl")]
        webhook = f"http://127.0.0.1:{hook.server_address[1]}/alerts"
        am_cfg["receivers"] = [
            {"name": r["name"], "webhook_configs": [{"url": webhook, "send_resolved": True}]}
            for r in am_cfg["receivers"]
        ]
        am_cfg["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
        (tmp / "alertmanager.yml").write_text(yaml.safe_dump(am_cfg))
        alertmanager = run_process(
            [
                "prometheus-alertmanager",
                f"--config.file={tmp / 'alertmanager.yml'}",
                f"--storage.path={tmp / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            tmp / "alertmanager.log",
        )
        procs.append(alertmanager)
        wait_for(f"http://127.0.0.1:{am_port}/-/ready", alertmanager)

        # Prometheus with our rules, `for:` compressed.
        rules = yaml.safe_load(RULES.read_text())
        for group in rules["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = COMPRESSED_FOR
        (tmp / "rules.yml").write_text(yaml.safe_dump(rules))
        prom_port = free_port()
        prom_cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(tmp / "rules.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [
                {
                    "job_name": "avepoint-backup-exporter",
                    "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
                }
            ],
        }
        url = start_prometheus(tmp, prom_cfg, prom_port, procs)
        organization = next(c["organization"] for c in sim.customers if c["id"] == failing[0])
        yield Stack(sim, url, receiver, failing, stale, organization, customers)
    finally:
        stop_processes(procs, tmp)
        hook.shutdown()
        sim.stop()


def job_key(alert: dict[str, Any]) -> tuple[str, str, str]:
    labels = alert.get("labels") or alert["metric"]  # a notification, or a Prometheus query result
    return (labels.get("customer_id", ""), labels.get("job_type", ""), labels.get("job_module", ""))


# The simulated subscriptions expire and fill up as they please: their alerts are not part of this scenario.
SUBSCRIPTION_ALERTS = {"AvePointSubscriptionExpiring", "AvePointCapacityNearlyFull"}


def backup_alerts(alerts: list[dict[str, Any]]) -> set[tuple[str, tuple[str, str, str]]]:
    found = set()
    for a in alerts:
        labels = a.get("labels") or a["metric"]
        if labels["alertname"] not in SUBSCRIPTION_ALERTS:
            found.add((labels["alertname"], job_key(a)))
    return found


def test_failed_and_stale_modules_page_and_nothing_else_does(stack: Stack) -> None:
    def both_fired() -> bool:
        names = {(a["labels"]["alertname"], job_key(a)) for a in stack.receiver.alerts("firing")}
        return {("AvePointBackupJobFailed", stack.failing), ("AvePointBackupStale", stack.stale)} <= names

    eventually(both_fired, 60, "AvePointBackupJobFailed and AvePointBackupStale at the webhook")
    firing = stack.receiver.alerts("firing")
    by_name = {a["labels"]["alertname"]: a for a in firing}
    assert stack.organization in by_name["AvePointBackupJobFailed"]["annotations"]["description"]
    assert stack.organization in by_name["AvePointBackupStale"]["annotations"]["description"]
    assert by_name["AvePointBackupJobFailed"]["labels"]["severity"] == "warning"
    assert by_name["AvePointBackupStale"]["labels"]["severity"] == "critical"
    # Nothing for the healthy modules or the healthy customer, nothing about the exporter's health.
    assert backup_alerts(firing) == {
        ("AvePointBackupJobFailed", stack.failing),
        ("AvePointBackupStale", stack.stale),
    }
    # Prometheus agrees, and every rule evaluates without error against real data.
    active = backup_alerts(stack.query("ALERTS{alertstate='firing'}"))
    assert active == {("AvePointBackupJobFailed", stack.failing), ("AvePointBackupStale", stack.stale)}
    rules = requests.get(stack.prometheus + "/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert all(rule["health"] == "ok" for group in rules for rule in group["rules"]), rules


def test_alert_resolves_when_the_failure_heals(stack: Stack) -> None:
    eventually(
        lambda: any(a["labels"]["alertname"] == "AvePointBackupJobFailed" for a in stack.receiver.alerts("firing")),
        60,
        "the failure alert",
    )
    now = time.time()
    stack.sim.pin(*stack.failing, status="Finished", failedCount="0", endTime=iso(now), lastModifyTime=iso(now))

    def resolved() -> bool:
        return any(
            a["labels"]["alertname"] == "AvePointBackupJobFailed" and job_key(a) == stack.failing
            for a in stack.receiver.alerts("resolved")
        )

    eventually(resolved, 60, "the resolved notification")
    firing_now = {(a["metric"]["alertname"], job_key(a)) for a in stack.query("ALERTS{alertstate='firing'}")}
    assert ("AvePointBackupJobFailed", stack.failing) not in firing_now
    assert ("AvePointBackupStale", stack.stale) in firing_now


def test_every_dashboard_query_returns_data(stack: Stack) -> None:

    # Rates need two scrapes inside the window: wait until the exporter has been scraped a while.
    eventually(lambda: bool(stack.query("count_over_time(avepoint_up[30s]) > 10")), 60, "30 s of scrapes")
    values = {
        "organization": stack.organization,
        "customer_id": stack.failing[0],
        "job": "avepoint-backup-exporter",
        # The exporter's target, as the dashboards' instance variable offers it.
        "instance": stack.query('avepoint_exporter_build_info{job="avepoint-backup-exporter"}')[0]["metric"][
            "instance"
        ],
        "datasource": "prometheus",
    }
    queries = live_queries(values)
    empty = [f"{name} / {title}: {query}" for name, title, query in queries if not stack.query(query)]
    assert len(queries) >= 40
    assert not empty, "queries with no series:\n" + "\n".join(empty)
