"""The status page's coverage (protected / scanned objects) and user seats per customer (issue 15, points 4, 6)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests
from prometheus_client import CollectorRegistry

from avepoint_simulator import ROUTE_V3_SEATS, FleetSpec, Simulator
from exporter import config
from exporter.exposition.telemetry import Telemetry
from exporter.model import Attempt, CustomerState, Failure, ProtectedData, TenantSeats
from exporter.refresh import Refresher
from exporter.upstream.api import Client
from exporter.web import App, Server, serve_in_thread, status
from tests.support.harness import make_config
from tests.support.views import CONFIG, NOW
from tests.unit.web.test_status import Tags, customer, job, page, snapshot

EVERYTHING = replace(
    CONFIG,
    api=replace(CONFIG.api, version="v3"),
    endpoints=config.EndpointsConfig(jobs=True, protected=True, services=True),
)


def woodgrove(**changes: object) -> CustomerState:
    state = customer("w", "Woodgrove", job())
    full = replace(
        state,
        protected=(
            ProtectedData("Microsoft 365", "Exchange Online", scanned_objects=1200, protected_objects=1100),
            ProtectedData("Microsoft 365", "OneDrive", scanned_objects=0, protected_objects=0),  # nothing scanned
            ProtectedData("Microsoft 365", "Microsoft Teams", scanned_objects=None, protected_objects=5),  # N/A
        ),
        protected_attempt=Attempt(True, NOW - 30),
        seats=(
            TenantSeats("Google", "g-1", "Woodgrove Google", assigned=5, available=95),
            TenantSeats("Microsoft 365", "t-1", "wood.onmicrosoft.com", assigned=240, available=10),
        ),
        seats_attempt=Attempt(True, NOW - 30),
    )
    return replace(full, **changes)  # type: ignore[arg-type]


def cell(text: str, row_id: str, css: str) -> tuple[str, str]:
    """The (title, inner HTML) of the first `td.css` of the row with data-id `row_id`."""
    row = re.search(rf'<tr [^>]*data-id="{row_id}">(.*?)</tr>', text, re.DOTALL)
    assert row is not None
    found = re.search(rf'<td class="{css}"(?: title="([^"]*)")?>(.*?)</td>', row.group(1), re.DOTALL)
    assert found is not None, row.group(1)
    return found.group(1) or "", found.group(2)


def test_coverage_and_seats_per_customer_on_the_page() -> None:
    text = page(snapshot(woodgrove(), cfg=EVERYTHING))
    Tags(text)  # well-formed for a browser's parser
    assert '<th rowspan="2" title="protected of scanned objects (endpoints.protected)">Coverage</th>' in text
    title, inner = cell(text, "w", "cov")
    # Modules with nothing scanned (OneDrive) or no scanned count (Teams) are left out of the total.
    assert inner == '91% <span class="n">1,100 / 1,200</span>'
    assert title.splitlines() == [
        "Microsoft 365 / Exchange Online: 1,100 of 1,200 objects protected (91%)",
        "Microsoft 365 / OneDrive: 0 of 0 objects protected",
        "Microsoft 365 / Microsoft Teams: 5 of \u2013 objects protected",
    ]
    seats_cell = re.findall(r'<td class="cov"(?: title="([^"]*)")?>(.*?)</td>', text)[1]
    # The fullest tenant, marked as the alert judges it (over 90% assigned).
    assert seats_cell[1] == '<span class="bad">96%</span> <span class="n">240 / 250</span>'
    assert seats_cell[0].splitlines() == [
        "Google tenant Woodgrove Google: 5 assigned, 95 available (5% assigned)",
        "Microsoft 365 tenant wood.onmicrosoft.com: 240 assigned, 10 available (96% assigned)",
    ]


def test_low_coverage_is_marked_and_a_failed_seats_refresh_is_a_problem() -> None:
    low = (ProtectedData("Microsoft 365", "Exchange Online", scanned_objects=1000, protected_objects=500),)
    failed = Attempt(False, NOW - 3600, Failure("HTTPStatusError", "HTTP 403"))
    view = status.build(
        snapshot(woodgrove(protected=low, seats_attempt=failed), cfg=EVERYTHING), status.Process("x", NOW), NOW
    )
    (row,) = view.rows
    assert row.health == "warning" and "seats refresh failed" in row.reasons
    head, tail = status.render_html(view)
    assert cell(head + tail, "w", "cov")[1] == '<span class="bad">50%</span> <span class="n">500 / 1,000</span>'


def test_json_carries_coverage_and_seats_where_they_apply() -> None:
    data = json.loads(
        status.render_json(status.build(snapshot(woodgrove(), cfg=EVERYTHING), status.Process("x", NOW), NOW))
    )
    (w,) = data["customers"]
    assert w["coverage"][0] == {
        "service": "Microsoft 365",
        "module": "Exchange Online",
        "protected_objects": 1100,
        "scanned_objects": 1200,
        "ratio": 1100 / 1200,
    }
    assert [c["ratio"] for c in w["coverage"]] == [1100 / 1200, None, None]
    assert w["seats"][1] == {
        "tenant_type": "Microsoft 365",
        "tenant_id": "t-1",
        "tenant_name": "wood.onmicrosoft.com",
        "assigned": 240,
        "available": 10,
        "assigned_ratio": 0.96,
    }
    assert [r["endpoint"] for r in w["refresh"]] == ["jobs", "protected", "seats"]


def test_without_the_groups_the_page_and_json_are_as_before() -> None:
    # Legacy with both groups on: coverage, but no seats (legacy has none); both off: neither.
    legacy = replace(EVERYTHING, api=replace(EVERYTHING.api, version="legacy"))
    text = page(snapshot(woodgrove(), cfg=legacy))
    assert ">Coverage</th>" in text and ">Seats</th>" not in text
    data = json.loads(
        status.render_json(status.build(snapshot(woodgrove(), cfg=legacy), status.Process("x", NOW), NOW))
    )
    assert "coverage" in data["customers"][0] and "seats" not in data["customers"][0]
    plain = page(snapshot(woodgrove()))
    assert 'class="cov"' not in plain and ">Coverage</th>" not in plain
    data = json.loads(status.render_json(status.build(snapshot(woodgrove()), status.Process("x", NOW), NOW)))
    assert not {"coverage", "seats"} & set(data["customers"][0])


@pytest.fixture
def served() -> Iterator[tuple[Simulator, Server]]:
    with Simulator(FleetSpec(customers=5, seed=17), clock=lambda: 1_760_000_000.0) as sim:
        cfg = make_config(sim, api={"version": "v3"}, endpoints={"protected": True, "services": True})
        registry = CollectorRegistry()
        refresher = Refresher(cfg, Client(cfg.api, cfg.auth))
        server = Server(("127.0.0.1", 0), App(lambda: refresher, registry, Telemetry(registry)))
        serve_in_thread(server)
        try:
            yield sim, server
        finally:
            server.shutdown()
            server.server_close()
            refresher.close()


def test_the_served_page_shows_the_simulators_coverage_and_seats(served: tuple[Simulator, Server]) -> None:
    sim, server = served
    requests.get(server.url + "/metrics", timeout=30)  # the first scrape waits for the first refresh
    text = requests.get(server.url + "/", timeout=10).text
    data = requests.get(server.url + "/status.json", timeout=10).json()
    by_id = {c["id"]: c for c in data["customers"]}
    for cid in sim.customer_ids:
        rows = sim.protected(cid)
        scanned = sum(int(str(r["totalScannedObjects"])) for r in rows if int(str(r["totalScannedObjects"])))
        protected = sum(int(str(r["totalProtectedObjects"])) for r in rows if int(str(r["totalScannedObjects"])))
        inner = cell(text, cid, "cov")[1]
        if scanned:
            assert f'<span class="n">{protected:,} / {scanned:,}</span>' in inner, cid
            assert {(c["protected_objects"], c["scanned_objects"]) for c in by_id[cid]["coverage"]} == {
                (int(str(r["totalProtectedObjects"])), int(str(r["totalScannedObjects"]))) for r in rows
            }
        else:
            assert inner == "\u2013", cid
        seats = {(s["tenant_id"], s["assigned"], s["available"]) for s in by_id[cid]["seats"]}
        assert seats == {
            (r["tenantId"], r["assignedUserSeat"], r["availableUserSeat"]) for t in range(4) for r in sim.seats(cid, t)
        }
    # The simulator's tenant nearly out of seats is marked, and no other.
    marked = [cid for cid in sim.customer_ids if '<span class="bad">9' in re.sub(r"\s", " ", _seats_cell(text, cid))]
    assert marked == [sim.customer_ids[0]]
    assert sim.requests[(ROUTE_V3_SEATS, 200)] == 4 * len(sim.customer_ids)


def _seats_cell(text: str, cid: str) -> str:
    row = re.search(rf'<tr [^>]*data-id="{cid}">(.*?)</tr>', text, re.DOTALL)
    assert row is not None
    return str(re.findall(r'<td class="cov"[^>]*>(.*?)</td>', row.group(1))[1])
