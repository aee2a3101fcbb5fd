"""The console script as a subprocess against the simulator: serve, reload, shut down, check, demo."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from avepoint_simulator import DEMO_CLIENT_SECRET, FleetSpec, Simulator
from tests.support import free_port
from tests.support.harness import SCRIPT, stop, wait_for, write_config

pytestmark = pytest.mark.e2e

CONTRACT = {
    "avepoint_backup_job_objects",
    "avepoint_backup_job_failed_objects",
    "avepoint_backup_job_successful_objects",
    "avepoint_backup_job_skipped_objects",
    "avepoint_backup_job_warning_objects",
    "avepoint_backup_job_size_bytes",
    "avepoint_backup_job_duration_seconds",
    "avepoint_backup_job_start_timestamp_seconds",
    "avepoint_backup_job_end_timestamp_seconds",
    "avepoint_backup_job_last_modified_timestamp_seconds",
    "avepoint_backup_job_status",
    "avepoint_backup_job_info",
    "avepoint_backup_job_last_success_timestamp_seconds",
    "avepoint_backup_job_expected_interval_seconds",
    "avepoint_customer_info",
    "avepoint_customer_status",
    "avepoint_exporter_build_info",
    "avepoint_up",
    "avepoint_refresh_success",
    "avepoint_refresh_last_success_timestamp_seconds",
    "avepoint_api_requests_total",
    "avepoint_api_request_duration_seconds_bucket",
    "avepoint_scrape_duration_seconds",
}


def sample_names(text: str) -> set[str]:
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=8, seed=5)) as simulator:
        yield simulator


def test_serves_reloads_and_stops(sim: Simulator, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config.yml", sim, f"state_file: {tmp_path / 'state.json'}\n")
    port = free_port()
    proc = subprocess.Popen(
        [
            SCRIPT,
            "--config.file",
            str(cfg),
            "--web.listen-address",
            f"127.0.0.1:{port}",
            "--log.format",
            "json",
            "--web.enable-lifecycle",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/-/ready", proc)
        body = requests.get(url + "/metrics", timeout=10).text
        missing = CONTRACT - sample_names(body)
        assert not missing, missing
        if shutil.which("promtool"):
            check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
            assert check.returncode == 0, check.stdout + check.stderr

        # A bad file on SIGHUP is refused; the old config keeps serving.
        cfg.write_text(cfg.read_text() + "bogus: 1\n")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "avepoint_config_last_reload_successful 0.0" not in body and time.monotonic() < deadline:
            time.sleep(0.1)
            body = requests.get(url + "/metrics", timeout=10).text
        assert "avepoint_config_last_reload_successful 0.0" in body
        assert "avepoint_up 1.0" in body
        # A good file via POST /-/reload takes effect.
        write_config(cfg, sim, "customers:\n  exclude: [" + sim.customer_ids[0] + "]\n")
        assert requests.post(url + "/-/reload", timeout=10).status_code == 200
        body = requests.get(url + "/metrics", timeout=10).text
        assert "avepoint_config_last_reload_successful 1.0" in body
    finally:
        elapsed, err = stop(proc)
    assert proc.returncode == 0
    assert elapsed < 2.0, f"shutdown took {elapsed:.2f}s"
    assert "Traceback" not in err
    assert DEMO_CLIENT_SECRET not in err
    assert '"msg": "reload failed, old config kept"' in err and "unknown key bogus" in err
    assert (tmp_path / "state.json").exists()


def test_stops_quickly_while_upstream_requests_hang(sim: Simulator, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config.yml", sim)
    port = free_port()
    sim.faults.latency = 30.0  # every refresh request hangs far longer than the shutdown may take
    proc = subprocess.Popen(
        [SCRIPT, "--config.file", str(cfg), "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(f"http://127.0.0.1:{port}/-/healthy", proc)
    body = requests.get(
        f"http://127.0.0.1:{port}/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "1"}, timeout=10
    ).text
    assert "avepoint_up 0.0" in body  # the first refresh is still hanging
    elapsed, err = stop(proc)
    assert proc.returncode == 0
    assert elapsed < 2.0, f"shutdown took {elapsed:.2f}s"
    assert "Traceback" not in err


def test_sigint_also_stops_gracefully(sim: Simulator, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config.yml", sim)
    port = free_port()
    proc = subprocess.Popen(
        [SCRIPT, "--config.file", str(cfg), "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(f"http://127.0.0.1:{port}/-/healthy", proc)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)
    assert proc.returncode == 0 and time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("auth:\n  client_id: a\n", "set exactly one of client_secret"),
        ("auth: {client_id: a, client_secret: b}\napi: {retries: x}\n", "api.retries: must be an integer"),
        ("auth: {client_id: a, client_secret: b}\nnope: 1\n", "unknown key nope"),
    ],
)
def test_bad_config_exits_2_with_a_message_and_no_traceback(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "config.yml"
    cfg.write_text(text)
    result = subprocess.run([SCRIPT, "--config.file", str(cfg)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_flag_exits_2() -> None:
    result = subprocess.run([SCRIPT], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "--config.file is required" in result.stderr


def test_check_prints_a_table(sim: Simulator, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config.yml", sim)
    sim.faults.failing_customers = {sim.customer_ids[1]}
    result = subprocess.run([SCRIPT, "check", "--config.file", str(cfg)], capture_output=True, text=True, timeout=60)
    lines = result.stdout.splitlines()
    assert "token: ok" in lines and "customers: 8" in lines
    header = next(line for line in lines if line.startswith("customer_id"))
    assert "organization" in header and "failed" in header
    assert sum(1 for line in lines if line.split()[0] in sim.customer_ids) == 8
    assert any(sim.customer_ids[1] in line and "FAILED" in line for line in lines)
    assert result.returncode == 1  # one customer failed
    assert DEMO_CLIENT_SECRET not in result.stdout + result.stderr


def test_check_with_bad_credentials(sim: Simulator, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config.yml", sim)
    (tmp_path / "secret").write_text("wrong-secret-value\n")
    result = subprocess.run([SCRIPT, "check", "--config.file", str(cfg)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "token: FAILED" in result.stdout and "invalid_client" in result.stdout
    assert "wrong-secret-value" not in result.stdout + result.stderr


def test_demo_serves_every_contract_metric() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [SCRIPT, "--demo", "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AVEPOINT_CACHE_TTL": "1m"},
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/-/ready", proc)
        body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert not CONTRACT - sample_names(body)
        outcomes = {
            s.labels["outcome"]
            for f in text_string_to_metric_families(body)
            for s in f.samples
            if s.name == "avepoint_backup_job_status"
        }
        assert {"success", "not_run"} <= outcomes
    finally:
        stop(proc)
    assert proc.returncode == 0


def test_version() -> None:
    result = subprocess.run([SCRIPT, "--version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout.startswith("avepoint-backup-exporter ")
