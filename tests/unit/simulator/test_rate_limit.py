"""The simulator's per-client rate limit: a sliding second per access token, 429 past it, from its command line."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from avepoint_simulator import Faults, FleetSpec, Simulator
from tests.support.api import ALL_SCOPES, get, session

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=2, seed=7), faults=Faults(rate_limit=3)) as simulator:
        yield simulator


def test_each_client_has_its_own_limit_and_429_says_when_asked(sim: Simulator) -> None:
    one, other = session(sim), session(sim)
    assert [get(one, sim, "/partner/customers").status_code for _ in range(3)] == [200, 200, 200]
    refused = get(one, sim, "/partner/customers")
    assert refused.status_code == 429
    assert "Retry-After" not in refused.headers
    assert get(other, sim, "/partner/customers").status_code == 200  # another token, another budget
    sim.faults.retry_after = 2
    assert get(one, sim, "/partner/customers").headers["Retry-After"] == "2"
    time.sleep(1.05)  # the sliding second has passed; refused requests did not count
    assert get(one, sim, "/partner/customers").status_code == 200
    statuses = [status for _, status in sim.arrivals]
    assert statuses.count(429) == 2 and len(statuses) == 7


def test_token_requests_are_not_limited(sim: Simulator) -> None:
    assert all(session(sim) for _ in range(6))  # each takes a token; a 429 there would fail session()


def test_command_line_sets_the_limit() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "avepoint_simulator", "--customers", "2", "--rate-limit", "2", "--retry-after", "7"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert re.match(r"^http://127\.0\.0\.1:\d+$", base_url)
        form = {"grant_type": "client_credentials", "client_id": "demo", "client_secret": "demo-secret"}
        token = requests.post(f"{base_url}/connect/token", data={**form, "scope": ALL_SCOPES}, timeout=5).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        answers = [requests.get(f"{base_url}/partner/customers", headers=headers, timeout=5) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[2].headers["Retry-After"] == "7"
    finally:
        process.terminate()
        process.wait(timeout=5)


@pytest.mark.parametrize(
    ("flag", "message"), [("--rate-limit=0", "--rate-limit wants"), ("--retry-after=-1", "--retry-after wants")]
)
def test_command_line_refuses_a_bad_limit(flag: str, message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "avepoint_simulator", flag], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
