"""Real Prometheus scrapes the exporter in each format and stores the same series, units aside.

Debian's Prometheus (2.42) asks for OpenMetrics and cannot be told otherwise (`scrape_protocols` came in
2.49): for the classic-format job, when the installed Prometheus does not take that key, the exporter sees
the Accept header a classic-only scraper sends. The exporter records which format each scrape got.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prometheus_client import CollectorRegistry

from avepoint_simulator import FleetSpec, Simulator
from exporter.exposition import CONTENT_TYPE, OPENMETRICS_TYPE, Telemetry
from exporter.refresh import Refresher
from exporter.upstream import Client
from exporter.web import App, Server, serve_in_thread
from exporter.web.app import Response
from tests.support import free_port
from tests.support.harness import eventually, make_config, start_prometheus

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not shutil.which("prometheus"), reason="Debian's prometheus is installed by tests/run"),
]
CLASSIC_ONLY = "text/plain;version=0.0.4;q=1,*/*;q=0.1"  # what a scraper without OpenMetrics sends


class Recording(App):
    """The real app, noting each scrape's Accept header and the Content-Type it answered with."""

    def __init__(self, *args: Any, force_accept: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.force_accept = force_accept
        self.seen: list[tuple[str | None, str]] = []
        self.lock = threading.Lock()

    def get(
        self, path: str, query: str, scrape_timeout: str | None, accept_encoding: str, accept: str | None = None
    ) -> Response:
        asked = self.force_accept or accept
        response = super().get(path, query, scrape_timeout, accept_encoding, asked)
        with self.lock:
            self.seen.append((accept, response.content_type))
        return response


def _takes_scrape_protocols(tmp: Path) -> bool:
    cfg = tmp / "probe.yml"
    job = {"job_name": "x", "scrape_protocols": ["PrometheusText0.0.4"], "static_configs": [{"targets": ["a:1"]}]}
    cfg.write_text(yaml.safe_dump({"scrape_configs": [job]}))
    return subprocess.run(["promtool", "check", "config", str(cfg)], capture_output=True, timeout=30).returncode == 0


@pytest.fixture
def scraped(tmp_path: Path) -> Iterator[tuple[str, Recording, Recording]]:
    procs: list[subprocess.Popen[bytes]] = []
    servers: list[Server] = []
    with Simulator(FleetSpec(customers=3, seed=5)) as sim:
        cfg = make_config(sim)
        registry = CollectorRegistry()
        telemetry = Telemetry(registry)
        refresher = Refresher(cfg, Client(cfg.api, cfg.auth, observe=telemetry.observe_request))
        protocols = shutil.which("promtool") is not None and _takes_scrape_protocols(tmp_path)
        apps = {
            "openmetrics": Recording(lambda: refresher, registry, telemetry),
            "classic": Recording(
                lambda: refresher, registry, telemetry, force_accept=None if protocols else CLASSIC_ONLY
            ),
        }
        jobs = []
        for name, app in apps.items():
            server = Server(("127.0.0.1", 0), app)
            serve_in_thread(server)
            servers.append(server)
            job: dict[str, Any] = {
                "job_name": name,
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "static_configs": [{"targets": [f"127.0.0.1:{server.server_address[1]}"]}],
            }
            if protocols:
                job["scrape_protocols"] = ["OpenMetricsText1.0.0"] if name == "openmetrics" else ["PrometheusText0.0.4"]
            jobs.append(job)
        try:
            url = start_prometheus(
                tmp_path, {"global": {"scrape_interval": "1s"}, "scrape_configs": jobs}, free_port(), procs
            )
            yield url, apps["openmetrics"], apps["classic"]
        finally:
            for proc in procs:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for server in servers:
                server.shutdown()
                server.server_close()
            refresher.close()


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    body = requests.get(url + "/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _series(url: str, job: str) -> dict[tuple[tuple[str, str], ...], str]:
    result = _query(url, f'{{job="{job}",__name__=~"avepoint_.*"}}')
    return {
        tuple(sorted((k, v) for k, v in r["metric"].items() if k not in ("job", "instance"))): r["value"][1]
        for r in result
    }


def test_prometheus_stores_the_same_series_from_either_format(scraped: tuple[str, Recording, Recording]) -> None:
    url, openmetrics, classic = scraped

    def both_scraped() -> bool:
        up = _query(url, "up")
        return (
            len(up) == 2
            and all(r["value"][1] == "1" for r in up)
            and all(len(_series(url, j)) > 50 for j in ("openmetrics", "classic"))
        )

    eventually(both_scraped, 30, "both jobs scraped and up")
    # Prometheus asked for OpenMetrics and got it; the other job got the classic format.
    accept, served = openmetrics.seen[-1]
    assert accept is not None and "application/openmetrics-text" in accept and served == OPENMETRICS_TYPE
    assert classic.seen[-1][1] == CONTENT_TYPE
    om, text = _series(url, "openmetrics"), _series(url, "classic")
    assert set(om) == set(text), set(om) ^ set(text)
    # The cached data are the same values (the live counters move between the two jobs' scrapes).
    data = [key for key in om if dict(key)["__name__"].startswith(("avepoint_backup_job", "avepoint_customer"))]
    assert data and all(om[key] == text[key] for key in data)
    # Prometheus read the OpenMetrics UNIT lines: the metadata of that target carries them.
    metadata = requests.get(
        url + "/api/v1/targets/metadata",
        params={"match_target": '{job="openmetrics"}', "metric": "avepoint_backup_job_size_bytes"},
        timeout=10,
    ).json()["data"]
    assert metadata and metadata[0]["unit"] == "bytes" and metadata[0]["type"] == "gauge"
    # The run counter is a counter in either format (OpenMetrics names its family without _total).
    assert any(dict(key)["__name__"] == "avepoint_backup_job_runs_total" for key in om)
    for job, metric in (("openmetrics", "avepoint_backup_job_runs"), ("classic", "avepoint_backup_job_runs_total")):
        metadata = requests.get(
            url + "/api/v1/targets/metadata", params={"match_target": f'{{job="{job}"}}', "metric": metric}, timeout=10
        ).json()["data"]
        assert metadata and metadata[0]["type"] == "counter", (job, metadata)
    # No scrape failed to parse in either format.
    assert all(float(r["value"][1]) == 0 for r in _query(url, "scrape_samples_post_metric_relabeling == 0"))
