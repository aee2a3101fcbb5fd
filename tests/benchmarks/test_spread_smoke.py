"""The spreading and status-page browser benchmarks still run (tiny fleets), so they cannot rot between runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.benchmarks import spread, status_page
from tests.screenshot import CHROMIUM


def _alive(pid: int) -> bool:
    """Running, not a zombie left for a reaper that may never come (a container's init)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _spinners() -> list[int]:
    """This process's children running spread.SPIN."""
    me, found = str(os.getpid()), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if ppid == me and b"getppid" in cmdline and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@pytest.mark.e2e
def test_spread_benchmark_quick_run(capsys: pytest.CaptureFixture[str]) -> None:
    # Every run (the opt-in "exact" too) and the load, on the tiniest fleet: the script's paths, not figures.
    runs = "before,burst,after,exact"
    args = ["--customers", "3", "--ttl", "0.2", "--limit", "200", "--scrape-interval", "0.05", "--load", "1"]
    assert spread.main([*args, "--runs", runs]) == 0
    printed = capsys.readouterr().out
    assert "spinning processes" in printed and "per tenth of a TTL" in printed and printed.count("\n") >= 36
    for label in runs.split(","):
        assert f"\n{label}: " in printed and f"{label} 0." in printed  # its summary and its first cycle
    assert "load average" in printed and "by the simulator's rule" in printed
    assert _spinners() == []  # the load is gone with the runs


def test_spread_benchmark_refuses_unknown_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        spread.main(["--runs", "before,sometimes"])
    assert exited.value.code == 2
    assert "--runs: unknown run sometimes; choose from before, burst, after, exact" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--customers", "--ttl", "--limit", "--concurrency", "--scrape-interval"])
def test_spread_benchmark_refuses_sizes_of_zero(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        spread.main([flag, "0"])
    assert exited.value.code == 2
    assert f"{flag} wants a number greater than 0, got 0" in capsys.readouterr().err


def test_load_stops_when_the_runs_fail() -> None:
    with pytest.raises(KeyboardInterrupt), spread.busy(2) as procs:
        assert len(procs) == 2 and all(proc.poll() is None for proc in procs)
        raise KeyboardInterrupt  # as Ctrl-C would, mid-run
    assert all(proc.returncode is not None for proc in procs) and _spinners() == []


def test_load_stops_by_itself_when_the_benchmark_is_gone() -> None:
    # A parent that starts a spinner and dies at once, as a benchmark killed hard (SIGKILL) would.
    starter = (
        "import os, subprocess, sys; "
        f"spin = [sys.executable, '-c', {spread.SPIN!r}, str(os.getpid())]; "
        "print(subprocess.Popen(spin, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,"
        " stderr=subprocess.DEVNULL).pid)"
    )
    pid = int(
        subprocess.run([sys.executable, "-c", starter], capture_output=True, text=True, check=True, timeout=10).stdout
    )
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _alive(pid)


def test_burst_limiter_is_the_former_one() -> None:
    """The "burst" run's baseline lets max_concurrency starts through at once, then spaces them 1/rate apart."""
    now, slept = [100.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = spread.BurstLimiter(10, 8, clock=lambda: now[0], sleep=sleep)
    for _ in range(10):
        limiter.acquire()
    assert slept == pytest.approx([0.1, 0.1])  # eight at once, then one per 0.1 s


def test_replay_of_the_simulators_rule() -> None:
    starts = [0.0, 0.5, 0.9, 1.0, 1.5]
    # A sliding second of at most 2: 0.9 is the third within one; 1.0 comes once 0.0 has left.
    assert spread.refused(starts, 2) == [0.9]
    assert spread.busiest_second(starts) == 3


@pytest.mark.e2e
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed (Debian package chromium)")
def test_status_page_browser_benchmark_quick_run() -> None:
    before, after = (status_page.browser(30, paged, opens=2) for paged in (False, True))
    assert before.page_bytes > 0 and after.page_bytes > 0
    assert before.filter_ms > 0 and after.filter_ms > 0 and after.problems_ms > 0
    assert "before (all rows)" in before.report() and "after (paged)" in after.report()
