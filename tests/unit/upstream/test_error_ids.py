"""Request and trace ids of an AvePoint error body reach the error and the log line of the failure."""

from __future__ import annotations

import json
import logging

import pytest
import requests

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, FleetSpec, Simulator
from exporter import config
from exporter.errors import HTTPStatusError
from exporter.refresh import Refresher
from exporter.upstream import Client, answers

NOW = 1_760_000_000.0


def make(sim: Simulator) -> config.Config:
    return config.from_mapping(
        {
            "api": {
                "base_url": sim.base_url,
                "token_url": sim.token_url,
                "retries": 0,
                "max_requests_per_second": 1000,
            },
            "auth": {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET},
        }
    )


def test_trace_id_of_the_error_body_is_kept_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with Simulator(FleetSpec(customers=2, seed=1), clock=lambda: NOW) as sim:
        cid = sim.customer_ids[0]
        cfg = make(sim)
        sim.faults.failing_customers = {cid}
        # What the simulator sent for that request, read the way any client would.
        token = Client(cfg.api, cfg.auth).token()
        raw = requests.get(
            f"{sim.base_url}/partner/customers/{cid}/jobs", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert raw.status_code == 500 and raw.json()["traceId"]
        with pytest.raises(HTTPStatusError) as info:
            Client(cfg.api, cfg.auth).jobs(cid)
        assert info.value.request_id and info.value.trace_id and len(info.value.trace_id) == 32
        assert f"trace id {info.value.trace_id}" in str(info.value)
        refresher = Refresher(cfg, Client(cfg.api, cfg.auth, sleep=lambda s: None), clock=lambda: 0.0)
        try:
            with caplog.at_level(logging.WARNING):
                refresher.snapshot_within(wait=10)
        finally:
            refresher.close()
        failures = [r for r in caplog.records if getattr(r, "customer_id", "") == cid]
        assert failures and all("trace id " in str(getattr(r, "error", "")) for r in failures)
        assert all("request id " in str(getattr(r, "error", "")) for r in failures)


@pytest.mark.parametrize(
    ("body", "ids"),
    [
        ({"statusCode": 500, "requestId": "r-1", "traceId": "abc123"}, ("r-1", "abc123")),
        (
            {"traceId": "0af7651916cd43dd8448eb211c80319c", "error": "x", "statusCode": 500},
            (None, "0af7651916cd43dd8448eb211c80319c"),
        ),
        ({"requestId": "evil\nline", "traceId": "x" * 500}, (None, None)),  # not id-shaped: not logged
        ({"requestId": 5, "traceId": ["t"]}, (None, None)),
        ("not json", (None, None)),
    ],
)
def test_error_ids_are_taken_only_when_id_shaped(body: object, ids: tuple[str | None, str | None]) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    assert answers.error_ids(raw) == ids
    error = answers.status_error("/partner/customers", 500, raw, None)
    assert (error.request_id, error.trace_id) == ids


def test_the_header_request_id_wins_over_the_body() -> None:
    error = answers.status_error("/partner/customers", 503, b'{"requestId": "body", "traceId": "t"}', "header")
    assert (error.request_id, error.trace_id) == ("header", "t")
    assert str(error).endswith("(request id header, trace id t)")
