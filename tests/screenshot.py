"""Headless Chromium against the exporter: the helpers the browser test uses, and the README's screenshot.

    .venv/bin/python -m tests.screenshot docs/status-page.png

starts the exporter's console script with `--demo` on a free loopback port, waits until every customer of
the demo fleet has been refreshed, and saves what Debian's `chromium` shows of `/` at 1400x1000.
"""

from __future__ import annotations

import json
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support import free_port

CHROMIUM = "/usr/bin/chromium"
SCRIPT = str(Path(sys.executable).parent / "avepoint-backup-exporter")
WINDOW = (1400, 1000)
# Root needs --no-sandbox; the rest keeps Chromium from calling home or doing work a test does not need.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--hide-scrollbars",
    "--mute-audio",
)


def chromium(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run Chromium with a fresh profile; fails loudly (never skips) when it does not work."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited with {done.returncode}: {done.stderr[-2000:]}")
    return done


def dump_dom(url: str) -> str:
    """The DOM after the page's scripts ran, serialized."""
    return chromium("--dump-dom", url).stdout


def screenshot(url: str, path: Path, size: tuple[int, int] = WINDOW) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    chromium(f"--screenshot={path.resolve()}", f"--window-size={size[0]},{size[1]}", url)
    if not path.exists():
        raise RuntimeError(f"chromium wrote no screenshot to {path}")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def wait_until_refreshed(url: str, proc: subprocess.Popen[str], seconds: float = 30.0) -> Any:
    """Poll /status.json until every customer has been refreshed once; return that status."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exporter exited early with {proc.returncode}")
        try:
            status = get_json(url + "/status.json")
        except (urllib.error.URLError, ConnectionError):
            status = None
        if status and status["exporter"]["ready"] and all(c["health"] != "pending" for c in status["customers"]):
            return status
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not finish its first refresh within {seconds}s")


@contextmanager
def exporter(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The console script on a free loopback port; stopped with SIGTERM afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        [SCRIPT, *args, "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tests.screenshot OUTPUT.png", file=sys.stderr)
        return 2
    out = Path(args[0])
    with exporter("--demo") as (url, proc):
        wait_until_refreshed(url, proc)
        screenshot(url + "/", out)
    width, height = png_size(out)
    print(f"{out}: {width}x{height}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
