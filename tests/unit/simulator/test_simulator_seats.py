"""The simulator's v3 user-seats route, over HTTP, as AvePoint/cloud-api
docs/elements/general/tenant/get-3rd-party-products-tenant-type.md documents it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from avepoint_simulator import FleetSpec, Simulator
from tests.support.api import NOW, http, post


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=8, seed=4), clock=lambda: NOW, page_size=1) as simulator:
        yield simulator


def path(customer_id: str, tenant_type: int | str) -> str:
    return f"/customers/{customer_id}/3rd-party-products/type/{tenant_type}/tenants/batch"


def test_rows_have_the_documented_fields_and_integer_codes(sim: Simulator) -> None:
    cid = sim.customer_ids[0]
    answer = post(http(sim), sim, path(cid, 0)).json()
    rows = sim.seats(cid, 0)
    assert rows and answer["metadata"]["totalCount"] == len(rows)
    assert answer["data"] == rows[:1]  # paged like the other batch routes (page_size=1)
    for row in rows:
        assert set(row) == {"type", "tenantId", "tenantName", "availableUserSeat", "assignedUserSeat"}
        assert row["type"] == 0
        assert all(isinstance(row[k], int) for k in ("availableUserSeat", "assignedUserSeat"))
    # The Microsoft 365 tenants are the customer's tenants of the v3 listing.
    listed = next(c for c in sim.customers_v3 if c["id"] == cid)["tenants"]
    assert isinstance(listed, list)
    assert [row["tenantId"] for row in rows] == [t["id"] for t in listed]


def test_only_the_fleets_first_customer_is_nearly_out_of_seats(sim: Simulator) -> None:
    def share(row: dict[str, object]) -> float:
        assigned, available = int(str(row["assignedUserSeat"])), int(str(row["availableUserSeat"]))
        return assigned / (assigned + available)

    rows = [(cid, t, row) for cid in sim.customer_ids for t in range(4) for row in sim.seats(cid, t)]
    # This fleet's first customer has a Google tenant beside its Microsoft 365 one: that one is not full.
    assert {t for cid, t, _ in rows if cid == sim.customer_ids[0]} == {0, 2}
    full = [(cid, t) for cid, t, row in rows if share(row) > 0.9]
    assert full == [(sim.customer_ids[0], 0)]


def test_tenant_ids_filter_and_bad_requests(sim: Simulator) -> None:
    s = http(sim)
    cid = sim.customer_ids[0]
    first = sim.seats(cid, 0)[0]
    filtered = post(s, sim, path(cid, 0), {"tenantIds": [first["tenantId"]]}).json()
    assert filtered["data"] == [first]
    assert post(s, sim, path(cid, 4)).status_code == 400
    assert post(s, sim, path(cid, "x")).status_code == 400
    assert post(s, sim, path(cid, 0), {"tenantIds": "all"}).status_code == 400
    assert s.get(f"{sim.base_url}/partner/external/v3/general{path(cid, 0)}", timeout=5).status_code == 405


def test_the_route_wants_the_license_scope(sim: Simulator) -> None:
    cid = sim.customer_ids[0]
    denied = post(http(sim, "elements.customers.read.all"), sim, path(cid, 0))
    assert denied.status_code == 403 and "elements.license.read.all" in denied.text
    assert post(http(sim, "elements.license.read.all"), sim, path(cid, 0)).status_code == 200
