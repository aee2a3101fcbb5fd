"""v3 paging on every documented route: the overview too, short pages, inconsistent answers."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ROUTE_V3_PROTECTED, FleetSpec, Simulator
from exporter import config
from exporter.errors import ResponseFormatError
from exporter.refresh import Refresher
from exporter.upstream import Client
from exporter.upstream.routes import EP_V3_PROTECTED
from tests.support.api import NOW, Recorder, make_client, scripted_client

V3 = "/partner/external/v3/general"


def m365_customer(sim: Simulator, at_least: int) -> str:
    """A customer of `sim` with at least `at_least` protected modules (the overview lists M365 only)."""
    return next(cid for cid in sim.customer_ids if len(sim.protected(cid)) >= at_least)


def test_overview_is_read_page_by_page() -> None:
    # The documented overview pages (AvePoint/cloud-api docs/elements/change-log.md, December 2025);
    # a client reading one page loses every module past it.
    with Simulator(FleetSpec(customers=12, seed=1), clock=lambda: NOW) as sim:
        cid = m365_customer(sim, 5)
        sim.faults.v3_page_cap = 2
        rec = Recorder()
        rows = make_client(sim, rec).protected(cid)
        assert rows == sim.protected(cid)
        pages = [parse_qs(urlsplit(p).query) for _, m, p, _ in sim.request_log if "overview" in p and m == "GET"]
        assert [q["pageIndex"] for q in pages] == [[str(i)] for i in range(1, len(pages) + 1)]
        assert len(pages) == -(-len(rows) // 2)
        assert rec.requests.count((EP_V3_PROTECTED, "200")) == len(pages)


@pytest.mark.parametrize("cap", [1, 3])
def test_every_v3_route_survives_pages_smaller_than_asked(cap: int) -> None:
    with Simulator(FleetSpec(customers=5, seed=1), clock=lambda: NOW) as sim:
        cid = m365_customer(sim, 4)
        sim.faults.v3_page_cap = cap
        client = make_client(sim)
        assert [c["id"] for c in client.customers()] == sim.customer_ids
        assert client.jobs(cid) == sim.jobs_v3(cid)
        assert client.services() == sim.services_v3()
        assert client.protected(cid) == sim.protected(cid)


def test_a_short_overview_is_an_error_not_half_a_list() -> None:
    with Simulator(FleetSpec(customers=12, seed=1), clock=lambda: NOW) as sim:
        cid = m365_customer(sim, 3)
        sim.faults.v3_page_cap = 2
        sim.faults.v3_total_count_offset = 3
        with pytest.raises(ResponseFormatError, match=r"is empty with \d+ of metadata\.totalCount") as info:
            make_client(sim).protected(cid)
        assert info.value.endpoint == EP_V3_PROTECTED


def test_a_short_overview_fails_that_customers_refresh_and_keeps_its_last_good_data() -> None:
    with Simulator(FleetSpec(customers=4, seed=1), clock=lambda: NOW) as sim:
        cid = m365_customer(sim, 3)
        cfg = config.from_mapping(
            {
                "api": {
                    "base_url": sim.base_url,
                    "token_url": sim.token_url,
                    "version": "v3",
                    "max_requests_per_second": 1000,
                    "retries": 0,
                },
                "auth": {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET},
                "endpoints": {"protected": True},
                "cache": {"ttl": "60s"},
            }
        )
        now = [0.0]
        refresher = Refresher(cfg, Client(cfg.api, cfg.auth, sleep=lambda s: None), clock=lambda: now[0])
        try:
            first = {c.customer.id: c for c in refresher.snapshot_within(wait=10).customers}
            good = first[cid].protected
            assert len(good) == len(sim.protected(cid)) and first[cid].protected_attempt.success
            sim.faults.v3_page_cap = 2
            sim.faults.v3_total_count_offset = 1
            now[0] = 61
            second = {c.customer.id: c for c in refresher.snapshot_within(wait=10).customers}
            assert second[cid].protected == good  # last good data, not the pages that did arrive
            assert not second[cid].protected_attempt.success
        finally:
            refresher.close()


def paged(pages: dict[str, Any]) -> Any:
    def answer(method: str, url: str) -> object:
        return pages[parse_qs(urlsplit(url).query)["pageIndex"][0]]

    return answer


def page(rows: list[object], total: int) -> dict[str, object]:
    return {"data": rows, "metadata": {"pageIndex": 1, "pageSize": 100, "totalCount": total}}


@pytest.mark.parametrize(
    ("pages", "message"),
    [
        ({"1": page([{"a": 1}], 2), "2": page([{"a": 2}], 3)}, "totalCount changed from 2 to 3 on page 2"),
        ({"1": page([{"a": 1}, {"a": 2}, {"a": 3}], 2)}, "more than metadata.totalCount 2"),
        ({"1": page([{"a": 1}], 2), "2": [{"a": 2}]}, "page 2 lost the paging envelope"),
    ],
)
def test_inconsistent_pages_are_errors(pages: dict[str, Any], message: str) -> None:
    client, _ = scripted_client(paged(pages))
    with pytest.raises(ResponseFormatError, match=message):
        client.protected("c1")
    client, _ = scripted_client(paged(pages))
    if isinstance(pages["2" if "2" in pages else "1"], dict):
        with pytest.raises(ResponseFormatError, match=message):
            client.jobs("c1")


def test_the_overview_is_asked_with_get_and_page_parameters() -> None:
    client, transport = scripted_client(paged({"1": page([{"serviceType": "x"}], 1)}))
    assert client.protected("c 1") == [{"serviceType": "x"}]
    method, url = transport.calls[-1]
    assert method == "GET"
    assert urlsplit(url).path == ROUTE_V3_PROTECTED.replace("{customerId}", "c%201")
    assert parse_qs(urlsplit(url).query) == {"pageIndex": ["1"], "pageSize": ["100"]}
