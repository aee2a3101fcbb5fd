"""User seats per tenant (issue 15, point 6): the documented sample, the simulator over HTTP in both API
versions, and a failing seats route that must not cost the subscriptions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from avepoint_simulator import ROUTE_V3_SEATS as SEATS_ROUTE
from avepoint_simulator import FleetSpec, Simulator
from exporter import codes
from exporter.exposition.text import encode
from exporter.model import TenantSeats
from tests.integration.test_doc_samples import V3, refresh, sample, serve, state_of, v3_routes
from tests.integration.test_endpoints import samples
from tests.support.harness import Clock, make_config, make_refresher

__all__ = ["serve"]  # the fixture, imported for the doc-sample test

EMPTY = b'{"data": [], "metadata": {"totalCount": 0}}'


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=5, seed=17), clock=lambda: 1_760_000_000.0) as simulator:
        yield simulator


def seat_series(text: str) -> dict[tuple[str, str, str, str], tuple[float | None, float | None]]:
    """(customer, type, tenant id, tenant name) -> (assigned, available), from an exposition."""
    got = samples(text)
    out: dict[tuple[str, str, str, str], list[float | None]] = {}
    for index, name in enumerate(("avepoint_tenant_user_seats_assigned", "avepoint_tenant_user_seats_available")):
        for labels, value in got.get(name, []):
            key = (labels["customer_id"], labels["tenant_type"], labels["tenant_id"], labels["tenant_name"])
            out.setdefault(key, [None, None])[index] = value
    return {key: (a, b) for key, (a, b) in out.items()}


def expected_seats(sim: Simulator) -> dict[tuple[str, str, str, str], tuple[float | None, float | None]]:
    """What the simulator serves on the seats route, every customer and documented type."""
    return {
        (cid, codes.TENANT_TYPES[int(str(row["type"]))], str(row["tenantId"]), str(row["tenantName"])): (
            float(str(row["assignedUserSeat"])),
            float(str(row["availableUserSeat"])),
        )
        for cid in sim.customer_ids
        for tenant_type in range(4)
        for row in sim.seats(cid, tenant_type)
    }


def test_the_documented_sample_parses_field_by_field(serve: Any) -> None:
    # docs/elements/general/tenant/get-3rd-party-products-tenant-type.md, served for type 0; the other types empty.
    cid = "1c10525c-****-****-****-2e641bc13421"
    listing = f'{{"data": [{{"id": "{cid}", "organization": "OrganizationABC"}}], "metadata": {{"totalCount": 1}}}}'
    routes = {
        ("POST", V3 + "/customers/*/3rd-party-products/type/0/tenants/batch"): sample("v3-tenant-seats.json"),
        **v3_routes(),
        ("POST", V3 + "/customers/batch"): listing.encode(),
    }
    upstream = serve(routes)
    snap, series = refresh(upstream, "v3")
    state = state_of(snap, cid)
    assert state.seats == (TenantSeats("Microsoft 365", "f04d7aee-****-5f92-****-6521****e596", "TenantABC", 25, 25),)
    assert state.seats_attempt is not None and state.seats_attempt.success
    labels = frozenset(
        {
            ("customer_id", cid),
            ("tenant_type", "Microsoft 365"),
            ("tenant_id", "f04d7aee-****-5f92-****-6521****e596"),
            ("tenant_name", "TenantABC"),
        }
    )
    assert series[("avepoint_tenant_user_seats_assigned", labels)] == 25
    assert series[("avepoint_tenant_user_seats_available", labels)] == 25
    # One POST per documented type, each with the customer's id in the path.
    asked = [path for method, path in upstream.requests if "3rd-party-products" in path]
    assert asked == [f"{V3}/customers/{cid}/3rd-party-products/type/{t}/tenants/batch" for t in range(4)]
    assert series[("avepoint_refresh_success", frozenset({("customer_id", cid), ("endpoint", "seats")}))] == 1


def test_v3_exports_every_tenants_seats_as_the_simulator_serves_them(sim: Simulator) -> None:
    refresher = make_refresher(make_config(sim, api={"version": "v3"}, endpoints={"services": True}))
    snap = refresher.snapshot_within(wait=10)
    refresher.close()
    text = encode(snap).decode()
    got = seat_series(text)
    want = expected_seats(sim)
    assert got == want
    assert {cid for cid, *_ in got} == set(sim.customer_ids)  # every customer has its Microsoft 365 tenants
    # The simulator leaves one tenant (its fleet's first customer's) nearly out of seats, none other.
    used = {key: a / (a + b) for key, (a, b) in got.items() if a is not None and b is not None and a + b}
    assert [key[0] for key, share in used.items() if share > 0.9] == [sim.customer_ids[0]]
    assert sim.requests[(SEATS_ROUTE, 200)] == 4 * len(sim.customer_ids)
    ok = {
        (labels["customer_id"], labels["endpoint"]): value
        for labels, value in samples(text)["avepoint_refresh_success"]
    }
    assert all(ok[(cid, "seats")] == 1 for cid in sim.customer_ids)


def test_legacy_has_no_seats_and_no_error(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    refresher = make_refresher(make_config(sim, api={"version": "legacy"}, endpoints={"services": True}))
    snap = refresher.snapshot_within(wait=10)
    refresher.close()
    text = encode(snap).decode()
    assert snap.services.success and all(c.attempt.success for c in snap.customers)
    assert all(c.seats == () and c.seats_attempt is None for c in snap.customers)
    assert "avepoint_tenant_user_seats" not in text and 'endpoint="seats"' not in text
    assert not any(route == SEATS_ROUTE for route, _ in sim.requests)
    assert "seats" not in caplog.text


def test_without_services_v3_asks_no_seats(sim: Simulator) -> None:
    refresher = make_refresher(make_config(sim, api={"version": "v3"}))
    text = encode(refresher.snapshot_within(wait=10)).decode()
    refresher.close()
    assert not any(route == SEATS_ROUTE for route, _ in sim.requests)
    assert "avepoint_tenant_user_seats" not in text and 'endpoint="seats"' not in text


def test_a_forbidden_seats_route_costs_neither_subscriptions_nor_jobs(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim.faults.forbidden_routes.add(SEATS_ROUTE)
    cfg = make_config(sim, api={"version": "v3"}, endpoints={"services": True, "protected": True})
    refresher = make_refresher(cfg)
    snap = refresher.snapshot_within(wait=10)
    refresher.close()
    text = encode(snap).decode()
    got = samples(text)
    assert snap.services.success
    assert {labels["customer_id"] for labels, _ in got["avepoint_subscription_expiry_timestamp_seconds"]} == set(
        sim.customer_ids
    )
    assert all(c.attempt.success and c.jobs and c.protected_attempt.success for c in snap.customers)
    assert all(c.seats_attempt is not None and not c.seats_attempt.success for c in snap.customers)
    assert "HTTP 403" in str(snap.customers[0].seats_attempt.error if snap.customers[0].seats_attempt else "")
    ok = {(labels["customer_id"], labels["endpoint"]): value for labels, value in got["avepoint_refresh_success"]}
    assert ok[("", "services")] == 1
    assert all(ok[(cid, "seats")] == 0 and ok[(cid, "jobs")] == 1 for cid in sim.customer_ids)
    assert "avepoint_tenant_user_seats" not in text
    assert "refreshing user seats failed" in caplog.text


def test_a_later_seats_failure_keeps_the_last_good_seats(sim: Simulator) -> None:
    clock = Clock()
    refresher = make_refresher(make_config(sim, api={"version": "v3"}, endpoints={"services": True}), clock)
    first = refresher.snapshot_within(wait=10)
    good = {c.customer.id: c.seats for c in first.customers}
    assert all(good.values())
    sim.faults.forbidden_routes.add(SEATS_ROUTE)
    clock.now += 61  # past cache.ttl
    second = refresher.snapshot_within(wait=10)
    refresher.close()
    assert {c.customer.id: c.seats for c in second.customers} == good
    for state in second.customers:
        attempt = state.seats_attempt
        assert attempt is not None and not attempt.success and attempt.last_success is not None
    assert seat_series(encode(second).decode()) == expected_seats(sim)


@pytest.mark.parametrize(("types", "asked"), [(["Microsoft 365"], 1), (["2", "Dynamics 365"], 2), ([], 0)])
def test_only_the_configured_tenant_types_are_asked(sim: Simulator, types: list[str], asked: int) -> None:
    cfg = make_config(sim, api={"version": "v3"}, endpoints={"services": True, "seat_tenant_types": types})
    refresher = make_refresher(cfg)
    snap = refresher.snapshot_within(wait=10)
    refresher.close()
    assert sim.requests[(SEATS_ROUTE, 200)] == asked * len(sim.customer_ids)
    wanted = set(cfg.endpoints.seat_tenant_types)
    assert {k: v for k, v in expected_seats(sim).items() if k[1] in wanted} == seat_series(encode(snap).decode())
    text = encode(snap).decode()
    assert ('endpoint="seats"' in text) == bool(types)
    assert snap.services.success
