"""Builders the tests share: configs for the simulator, a fake clock, the console script and a stack."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Simulator
from exporter import config
from exporter.refresh import Refresher
from exporter.upstream import Client

SCRIPT = str(Path(sys.executable).parent / "avepoint-backup-exporter")


def wait_for(url: str, proc: subprocess.Popen[Any], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exporter exited early with {proc.returncode}: {proc.communicate()[1]}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not come up within {seconds}s")


def stop(proc: subprocess.Popen[str]) -> tuple[float, str]:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    return time.monotonic() - started, err


def write_config(path: Path, sim: Simulator, extra: str = "", *, version: str = "legacy", ttl: str = "30s") -> Path:
    path.write_text(
        f"api:\n  base_url: {sim.base_url}\n  token_url: {sim.token_url}\n  version: {version}\n"
        f"  max_requests_per_second: 100\n"
        f"auth:\n  client_id: {DEMO_CLIENT_ID}\n  client_secret_file: secret\n"
        f"cache:\n  ttl: {ttl}\n{extra}"
    )
    (path.parent / "secret").write_text(DEMO_CLIENT_SECRET + "\n")
    return path


@dataclass
class Receiver:
    """The webhook end of Alertmanager: records every notification."""

    notifications: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def alerts(self, status: str) -> list[dict[str, Any]]:
        with self.lock:
            return [a for n in self.notifications for a in n["alerts"] if a["status"] == status]


def eventually(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


@dataclass
class Stack:
    sim: Simulator
    prometheus: str
    receiver: Receiver
    failing: tuple[str, str, str]  # customer id, job type, module
    stale: tuple[str, str, str]
    organization: str
    customers: list[str]

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = requests.get(self.prometheus + "/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert body["status"] == "success", (expr, body)
        return list(body["data"]["result"])


def run_process(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    fh = log.open("wb")
    return subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT)


def stop_processes(procs: list[subprocess.Popen[bytes]], tmp: Path) -> None:
    """Stop what a stack test started, newest first, then show the end of each log for a failure's report."""
    for proc in reversed(procs):
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    for log in sorted(tmp.glob("*.log")):
        sys.stderr.write(f"--- {log.name} (last lines)\n" + "\n".join(log.read_text().splitlines()[-15:]) + "\n")


def start_prometheus(
    tmp: Path,
    prom_cfg: dict[str, Any],
    port: int,
    procs: list[subprocess.Popen[bytes]],
    flags: tuple[str, ...] = (),
    *,
    web_config: Path | None = None,
    data: Path | None = None,
) -> str:
    """Debian's Prometheus with `prom_cfg` and `flags`, data in `data` (default `tmp`/prom-data), once ready; its
    process joins `procs` to be stopped. With `web_config` (TLS, auth) it serves https, and is ready once its
    port accepts connections (its /-/ready wants the client certificate and password the test holds)."""
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(prom_cfg))
    prometheus = run_process(
        [
            "prometheus",
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={data or tmp / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            *([f"--web.config.file={web_config}"] if web_config else []),
            *flags,
        ],
        tmp / "prometheus.log",
    )
    procs.append(prometheus)
    if web_config:
        wait_listening(port, prometheus, seconds=30)
        return f"https://127.0.0.1:{port}"
    url = f"http://127.0.0.1:{port}"
    wait_for(url + "/-/ready", prometheus, seconds=30)
    return url


def wait_listening(port: int, proc: subprocess.Popen[Any], seconds: float) -> None:
    """Until 127.0.0.1:`port` accepts a connection (bounded; fails if the process exits first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the process on port {port} exited early with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise AssertionError(f"127.0.0.1:{port} did not accept connections within {seconds}s")


NOW = 1_760_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_config(sim: Simulator, **sections: Any) -> config.Config:
    data: dict[str, Any] = {
        "api": {"base_url": sim.base_url, "token_url": sim.token_url, "max_requests_per_second": 1000, "retries": 0},
        "auth": {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET},
        "cache": {"ttl": "60s"},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return config.from_mapping(data)


def make_refresher(cfg: config.Config, clock: Clock | None = None, **kwargs: Any) -> Refresher:
    client = Client(cfg.api, cfg.auth, sleep=lambda s: None)
    return Refresher(cfg, client, clock=clock or Clock(), **kwargs)
