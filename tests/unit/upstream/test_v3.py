"""The Elements API v3: the simulator's routes, paging and codes, and the client's v3 backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from avepoint_simulator import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    JOB_FIELDS,
    PARTNER_SCOPES,
    ROUTE_V3_CUSTOMERS,
    ROUTE_V3_JOBS,
    ROUTE_V3_PROTECTED,
    ROUTE_V3_SERVICES,
    V3_NEVER_RUN_STATUS,
    FleetSpec,
    Simulator,
)
from exporter import codes, config
from exporter.errors import ApiError, AuthError, HTTPStatusError, ResponseFormatError
from exporter.model import Outcome
from exporter.upstream import Client, parse
from exporter.upstream import api as apimod
from exporter.upstream.routes import EP_TOKEN, EP_V3_CUSTOMERS, EP_V3_JOBS
from tests.support.api import (
    NOW,
    V3,
    Recorder,
    http,
    jobs_path,
    make_client,
    post,
    scripted_client,
)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=12, seed=1), clock=lambda: NOW) as simulator:
        yield simulator


def named(row: dict[str, object]) -> dict[str, object]:
    """A v3 job row with its codes turned into names the way the exporter does (unknown: the number)."""
    out = dict(row)
    for key, table in (("jobType", codes.JOB_TYPES), ("jobModule", codes.JOB_MODULES), ("status", codes.JOB_STATUSES)):
        value = out.get(key)
        if isinstance(value, int):
            out[key] = codes.name(table, value)
    return out


# --- the simulator's v3 routes ---------------------------------------------------------------------


def test_customers_batch_shape(sim: Simulator) -> None:
    response = post(http(sim), sim, "/customers/batch")
    assert response.status_code == 200
    body = response.json()
    assert body["metadata"] == {"pageIndex": 1, "pageSize": 50, "totalCount": 12}
    customers = body["data"]
    assert customers == sim.customers_v3
    assert [c["id"] for c in customers] == sim.customer_ids
    modes = set()
    for customer, legacy in zip(customers, sim.customers, strict=True):
        assert list(customer) == [
            "id",
            "organization",
            "ownerEmail",
            "jobStatus",
            "countryOrRegion",
            "managementMode",
            "tenants",
        ]
        assert isinstance(customer["jobStatus"], int) and isinstance(customer["managementMode"], int)
        assert codes.CUSTOMER_STATUSES[customer["jobStatus"]] == legacy["jobStatus"]
        assert {k: customer[k] for k in legacy if k != "jobStatus"} == {
            k: v for k, v in legacy.items() if k != "jobStatus"
        }
        assert customer["tenants"] and all(set(t) == {"id", "name"} for t in customer["tenants"])
        modes.add(customer["managementMode"])
    assert modes <= set(codes.MANAGEMENT_MODES)
    # The legacy list stays exactly as it was: no v3-only fields leak into it.
    assert all(set(c) == {"id", "organization", "ownerEmail", "jobStatus", "countryOrRegion"} for c in sim.customers)


def test_v3_job_rows_are_the_legacy_rows_with_codes() -> None:
    # Big enough for Salesforce customers, whose module has no code in the documented table.
    with Simulator(FleetSpec(customers=60, seed=1), clock=lambda: NOW) as sim:
        s = http(sim)
        unknown = 0
        for customer_id in sim.customer_ids:
            response = post(s, sim, jobs_path(customer_id))
            assert response.status_code == 200
            rows = response.json()["data"]
            assert rows == sim.jobs_v3(customer_id)
            legacy = sim.jobs(customer_id)
            assert len(rows) == len(legacy)
            for row, old in zip(rows, legacy, strict=True):
                assert list(row) == list(JOB_FIELDS)
                assert all(isinstance(row[k], int) for k in ("jobType", "jobModule", "status"))
                unknown += row["jobModule"] not in codes.JOB_MODULES
                # The legacy route spells some modules its own way (codes.LEGACY_JOB_MODULES);
                # Salesforce's module has no v3 code and goes as the undocumented 601.
                module = codes.canonical_job_module(str(old["jobModule"]))
                expected = {
                    **old,
                    "jobType": codes.canonical_job_type(str(old["jobType"])),
                    "jobModule": "601" if module == "Salesforce" else module,
                }
                if old["status"] == "Not Finished":  # the documented legacy never-run row
                    assert row["status"] == V3_NEVER_RUN_STATUS
                    expected = {**expected, "status": codes.JOB_STATUSES[V3_NEVER_RUN_STATUS]}
                assert named(row) == expected
        assert unknown > 0


def test_unknown_codes_reach_the_parser_as_numbers() -> None:
    sim = Simulator(FleetSpec(customers=60, seed=1), clock=lambda: NOW)
    rows = [row for cid in sim.customer_ids for row in sim.jobs_v3(cid) if row["jobType"] == 15]
    assert rows
    for row in rows:
        assert row["jobModule"] == 601
        record, errors = parse.job(row)
        assert errors == [] and record is not None
        assert (record.job_type, record.job_module) == ("Salesforce", "601")


def test_jobs_batch_filters_by_type_and_module(sim: Simulator) -> None:
    s = http(sim)
    customer_id = sim.customer_ids[0]
    everything = sim.jobs_v3(customer_id)
    first = everything[0]
    picked = post(s, sim, jobs_path(customer_id), {"jobType": first["jobType"], "jobModule": first["jobModule"]})
    assert picked.json()["data"] == [first]
    by_type = post(s, sim, jobs_path(customer_id), {"jobType": first["jobType"]}).json()["data"]
    assert by_type == [r for r in everything if r["jobType"] == first["jobType"]]
    assert post(s, sim, jobs_path(customer_id), {"jobModule": 999}).json() == {
        "data": [],
        "metadata": {"pageIndex": 1, "pageSize": 50, "totalCount": 0},
    }
    assert post(s, sim, jobs_path(customer_id), {"jobType": None}).json()["data"] == everything


def test_customer_ids_filter_customers_and_services(sim: Simulator) -> None:
    s = http(sim)
    wanted = [sim.customer_ids[5], sim.customer_ids[2].upper(), "not-a-customer"]
    customers = post(s, sim, "/customers/batch", {"customerIds": wanted}).json()
    assert [c["id"] for c in customers["data"]] == [sim.customer_ids[2], sim.customer_ids[5]]
    assert customers["metadata"]["totalCount"] == 2
    services = post(s, sim, "/customers/services/batch", {"customerIds": wanted[:1]}).json()["data"]
    assert [e["customerId"] for e in services] == wanted[:1]


def test_services_batch_spells_dates_in_iso_8601_and_capacity_as_used_over_purchased(sim: Simulator) -> None:
    elements = post(http(sim), sim, "/customers/services/batch").json()["data"]
    assert elements == sim.services_v3()
    ratios = 0
    for element, legacy in zip(elements, sim.services(), strict=True):
        assert set(element) == set(legacy) - {"tenantId"}  # v3 services carry no tenantId
        products: list[dict[str, str]] = element["products"]
        old_products: list[dict[str, str]] = legacy["products"]  # type: ignore[assignment]
        for product, old in zip(products, old_products, strict=True):
            assert product["expirationDate"] == f"{old['expirationDate']}T00:00:00Z"
            if old["purchasedCapacity"] == "N/A":
                assert product["purchasedCapacity"] == "N/A"
            else:
                ratios += 1
                used, total = product["purchasedCapacity"].split("/")
                assert total == old["purchasedCapacity"]
                assert float(used) >= 0
        assert parse.subscriptions(element) == parse.subscriptions(legacy)
    assert ratios


def test_overview_is_the_legacy_protected_data(sim: Simulator) -> None:
    s = http(sim)
    for customer_id in sim.customer_ids:
        response = s.get(f"{sim.base_url}{V3}/customers/{customer_id}/cloud-backup-m365/overview", timeout=5)
        assert response.status_code == 200
        rows = sim.protected(customer_id)
        assert response.json() == {
            "data": rows,
            "metadata": {"pageIndex": 1, "pageSize": 50, "totalCount": len(rows)},
        }


@pytest.mark.parametrize(
    ("query", "sizes"),
    [
        ("", [50, 50, 20]),
        ("?pageSize=100", [100, 20]),
        ("?pageSize=7", [7] * 17 + [1]),
        ("?pageSize=1", [1] * 120),
    ],
)
def test_paging_by_page_index_and_size(query: str, sizes: list[int]) -> None:
    with Simulator(FleetSpec(customers=120, seed=2), clock=lambda: NOW) as sim:
        s = http(sim)
        sep = "&" if query else "?"
        ids: list[str] = []
        for index, size in enumerate(sizes, start=1):
            body = post(s, sim, f"/customers/batch{query}{sep}pageIndex={index}").json()
            assert len(body["data"]) == size
            assert body["metadata"]["pageIndex"] == index
            assert body["metadata"]["totalCount"] == 120
            ids += [c["id"] for c in body["data"]]
        assert ids == sim.customer_ids
        beyond = post(s, sim, f"/customers/batch{query}{sep}pageIndex={len(sizes) + 1}").json()
        assert beyond["data"] == []
        assert beyond["metadata"]["totalCount"] == 120


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?pageSize=101", "pageSize must be between 1 and 100"),
        ("?pageSize=0", "pageSize must be between 1 and 100"),
        ("?pageIndex=0", "pageIndex must be 1 or more"),
        ("?pageIndex=-3", "pageIndex must be 1 or more"),
        ("?pageIndex=two", "pageIndex must be an integer"),
        ("?pageSize=", "pageSize must be an integer"),
    ],
)
def test_bad_paging_is_a_400(sim: Simulator, query: str, message: str) -> None:
    response = post(http(sim), sim, f"/customers/batch{query}")
    assert response.status_code == 400
    assert message in response.json()["message"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": b"{", "headers": {"Content-Type": "application/json"}}, "not valid JSON"),
        ({"json": [1, 2]}, "must be a JSON object"),
        ({"json": {"customerIds": "abc"}}, "customerIds must be a list of strings"),
        ({"json": {"customerIds": [1]}}, "customerIds must be a list of strings"),
        ({"data": {"customerIds": "x"}}, "must be JSON"),
    ],
)
def test_bad_bodies_are_a_400(sim: Simulator, kwargs: dict[str, Any], message: str) -> None:
    response = post(http(sim), sim, "/customers/batch", **kwargs)
    assert response.status_code == 400
    assert message in response.json()["message"]


@pytest.mark.parametrize("body", [{"jobType": "7"}, {"jobModule": True}, {"jobModule": 3.5}])
def test_job_filters_must_be_integers(sim: Simulator, body: dict[str, object]) -> None:
    response = post(http(sim), sim, jobs_path(sim.customer_ids[0]), body)
    assert response.status_code == 400
    assert "must be an integer" in response.json()["message"]


def test_methods(sim: Simulator) -> None:
    s = http(sim)
    batch = s.get(f"{sim.base_url}{V3}/customers/batch", timeout=5)
    assert (batch.status_code, batch.headers["Allow"]) == (405, "POST")
    overview = post(s, sim, f"/customers/{sim.customer_ids[0]}/cloud-backup-m365/overview")
    assert (overview.status_code, overview.headers["Allow"]) == (405, "GET")
    assert post(s, sim, "/customers/nothing/here").status_code == 404


def test_unknown_and_removed_customers_are_404(sim: Simulator) -> None:
    s = http(sim)
    assert post(s, sim, jobs_path("00000000-0000-0000-0000-000000000000")).status_code == 404
    customer_id = sim.customer_ids[4]
    sim.remove_customer(customer_id)
    assert post(s, sim, jobs_path(customer_id)).status_code == 404
    assert customer_id not in [c["id"] for c in post(s, sim, "/customers/batch").json()["data"]]
    assert customer_id not in [e["customerId"] for e in post(s, sim, "/customers/services/batch").json()["data"]]


def test_each_family_needs_its_own_scopes(sim: Simulator) -> None:
    legacy = http(sim, " ".join(PARTNER_SCOPES))
    refused = post(legacy, sim, "/customers/batch")
    assert refused.status_code == 403
    assert refused.json()["message"] == "The access token lacks the scope elements.customers.read.all"
    assert refused.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    v3 = http(sim)
    assert v3.get(f"{sim.base_url}/partner/customers", timeout=5).status_code == 403
    only_customers = http(sim, "elements.customers.read.all")
    assert post(only_customers, sim, "/customers/batch").status_code == 200
    for path, scope in (
        (jobs_path(sim.customer_ids[0]), "elements.jobs.read.all"),
        ("/customers/services/batch", "elements.license.read.all"),
    ):
        response = post(only_customers, sim, path)
        assert response.status_code == 403
        assert scope in response.json()["message"]
    overview = only_customers.get(f"{sim.base_url}{V3}/customers/{sim.customer_ids[0]}/cloud-backup-m365/overview")
    assert overview.status_code == 403
    assert "elements.cbprotected.read.all" in overview.json()["message"]


def test_faults_apply_to_v3_routes(sim: Simulator) -> None:
    s = http(sim)
    failing, forbidden = sim.customer_ids[:2]
    sim.faults.failing_customers.add(failing)
    sim.faults.forbidden_customers.add(forbidden)
    assert post(s, sim, jobs_path(failing)).status_code == 500
    assert s.get(f"{sim.base_url}{V3}/customers/{failing}/cloud-backup-m365/overview", timeout=5).status_code == 500
    assert post(s, sim, jobs_path(forbidden)).status_code == 403
    sim.faults.status_override = 503
    sim.faults.retry_after = 4
    response = post(s, sim, "/customers/batch")
    assert (response.status_code, response.headers["Retry-After"]) == (503, "4")
    sim.faults.status_override = None
    sim.faults.truncated = True
    whole = json.dumps(sim.customers_v3)
    assert len(post(s, sim, "/customers/batch").content) < len(whole)
    sim.faults.truncated = False
    sim.faults.html_ok = True
    assert post(s, sim, "/customers/batch").headers["Content-Type"].startswith("text/html")


def test_pins_reach_v3_as_codes(sim: Simulator) -> None:
    customer_id = sim.customer_ids[0]
    row = sim.jobs(customer_id)[0]
    key = (customer_id, str(row["jobType"]), str(row["jobModule"]))
    sim.pin(*key, status="Failed", totalCount=17)
    assert sim.jobs_v3(customer_id)[0]["status"] == 3
    assert sim.jobs_v3(customer_id)[0]["totalCount"] == 17
    sim.pin(*key, status="99")
    assert sim.jobs_v3(customer_id)[0]["status"] == 99
    sim.pin(*key, status="Completed with issues")  # no code: sent as the string
    assert sim.jobs_v3(customer_id)[0]["status"] == "Completed with issues"
    sim.pin(customer_id, "Microsoft 365", "Viva Engage", status="Finished")
    added = sim.jobs_v3(customer_id)[-1]
    assert (added["jobType"], added["jobModule"], added["status"]) == (7, 402, 2)


def test_requests_are_counted_by_route_template(sim: Simulator) -> None:
    s = http(sim)
    customer_id = sim.customer_ids[0]
    post(s, sim, "/customers/batch")
    post(s, sim, jobs_path(customer_id))
    post(s, sim, "/customers/services/batch")
    s.get(f"{sim.base_url}{V3}/customers/{customer_id}/cloud-backup-m365/overview", timeout=5)
    counts = sim.requests
    for route in (ROUTE_V3_CUSTOMERS, ROUTE_V3_JOBS, ROUTE_V3_SERVICES, ROUTE_V3_PROTECTED):
        assert counts[(route, 200)] == 1, route
    assert ROUTE_V3_JOBS.endswith("/customers/{customerId}/avpt-products/jobs/batch")


# --- the client's v3 backend -----------------------------------------------------------------------


def page_queries(sim: Simulator) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(path).query) for _, _, path, _ in sim.request_log if path.startswith(V3)]


def test_client_pages_with_the_largest_page_size() -> None:
    with Simulator(FleetSpec(customers=230, seed=4, jobs_per_customer=1), clock=lambda: NOW) as sim:
        rec = Recorder()
        client = make_client(sim, rec)
        customers = client.customers()
        assert [c["id"] for c in customers] == sim.customer_ids
        assert rec.requests.count((EP_V3_CUSTOMERS, "200")) == 3  # 100, 100, 30
        assert [(q["pageIndex"], q["pageSize"]) for q in page_queries(sim)] == [
            (["1"], ["100"]),
            (["2"], ["100"]),
            (["3"], ["100"]),
        ]


def test_client_follows_a_server_that_pages_smaller_than_asked() -> None:
    with Simulator(FleetSpec(customers=7, seed=3), clock=lambda: NOW, page_size=2) as sim:
        rec = Recorder()
        client = make_client(sim, rec)
        assert [c["id"] for c in client.customers()] == sim.customer_ids
        assert rec.requests.count((EP_V3_CUSTOMERS, "200")) == 4  # 2, 2, 2, 1
        cid = sim.customer_ids[0]
        assert client.jobs(cid) == sim.jobs_v3(cid)


def test_client_stops_at_total_count_without_asking_for_an_empty_page() -> None:
    with Simulator(FleetSpec(customers=4, seed=3), clock=lambda: NOW, page_size=2) as sim:
        rec = Recorder()
        make_client(sim, rec).customers()
        assert rec.requests.count((EP_V3_CUSTOMERS, "200")) == 2
    with Simulator(FleetSpec(customers=0), clock=lambda: NOW) as sim:
        rec = Recorder()
        assert make_client(sim, rec).customers() == []
        assert rec.requests.count((EP_V3_CUSTOMERS, "200")) == 1


def test_total_count_never_reached_is_an_error(sim: Simulator) -> None:
    sim.faults.v3_total_count_offset = 5
    with pytest.raises(ResponseFormatError, match=r"page 2 is empty with 12 of metadata\.totalCount 17") as info:
        make_client(sim).customers()
    assert info.value.endpoint == EP_V3_CUSTOMERS


def test_a_server_ignoring_page_index_is_an_error() -> None:
    with Simulator(FleetSpec(customers=7, seed=3), clock=lambda: NOW, page_size=2) as sim:
        sim.faults.v3_stuck_page_index = True
        rec = Recorder()
        with pytest.raises(ResponseFormatError, match="page 2 repeats page 1"):
            make_client(sim, rec).customers()
        assert rec.requests.count((EP_V3_CUSTOMERS, "200")) == 2


def test_paging_has_a_cap() -> None:
    with Simulator(FleetSpec(customers=9, seed=3), clock=lambda: NOW, page_size=2) as sim:
        rec = Recorder()
        with pytest.raises(ResponseFormatError, match=r"did not end after 3 pages \(api.max_pages\)"):
            make_client(sim, rec, max_pages=3).customers()
        assert rec.requests.count((EP_V3_CUSTOMERS, "200")) == 3


@pytest.mark.parametrize(
    ("metadata", "ok"),
    [({"totalCount": -1}, False), ({"totalCount": "12"}, False), ({"totalCount": True}, False), ([], False)],
)
def test_bad_total_count_is_an_error(metadata: object, ok: bool) -> None:
    with pytest.raises(ResponseFormatError, match="totalCount"):
        apimod._total_count(metadata, EP_V3_CUSTOMERS)


def test_without_total_count_a_short_page_is_the_last() -> None:
    assert apimod._total_count(None, EP_V3_CUSTOMERS) is None
    assert apimod._total_count({"pageIndex": 1}, EP_V3_CUSTOMERS) is None


def test_client_jobs_for_filters_by_code(sim: Simulator) -> None:
    rec = Recorder()
    client = make_client(sim, rec)
    cid = sim.customer_ids[0]
    row = sim.jobs(cid)[0]
    rows = client.jobs_for(cid, str(row["jobType"]), str(row["jobModule"]))
    assert rows == [sim.jobs_v3(cid)[0]]
    # Names are matched without regard to case or spacing, numbers taken as codes.
    assert client.jobs_for(cid, "microsoft  365", "303") == [r for r in sim.jobs_v3(cid) if r["jobModule"] == 303]
    assert all(endpoint in (EP_TOKEN, EP_V3_JOBS) for endpoint, _ in rec.requests)
    # The legacy spelling names the same module; a name neither generation knows has no code.
    assert client.jobs_for(cid, "Microsoft 365", "OneDrive for Business") == [
        r for r in sim.jobs_v3(cid) if r["jobModule"] == 305
    ]
    with pytest.raises(ApiError, match="OneDrive for Work"):
        client.jobs_for(cid, "Microsoft 365", "OneDrive for Work")


def test_client_post_retries_and_renews_the_token(sim: Simulator) -> None:
    rec = Recorder()
    client = make_client(sim, rec, retries=2)
    client.customers()
    sim.revoke_tokens()
    assert len(client.customers()) == 12
    assert rec.requests.count((EP_V3_CUSTOMERS, "401")) == 1
    sim.faults.status_override = 429
    with pytest.raises(HTTPStatusError):
        client.jobs(sim.customer_ids[0])
    assert rec.requests.count((EP_V3_JOBS, "429")) == 3


def test_client_v3_needs_elements_scopes(sim: Simulator) -> None:
    api = config.ApiConfig(base_url=sim.base_url, token_url=sim.token_url, version="v3")
    auth = config.AuthConfig(client_id=DEMO_CLIENT_ID, client_secret=config.Secret(DEMO_CLIENT_SECRET))
    with pytest.raises(AuthError, match=r"lacks the scope elements\.customers\.read\.all"):
        Client(api, auth).customers()


def test_exporter_outcomes_over_v3() -> None:
    with Simulator(FleetSpec(customers=30, seed=1), clock=lambda: NOW) as sim:
        client = make_client(sim)
        outcomes = set()
        for cid in sim.customer_ids:
            for row in client.jobs(cid):
                record, errors = parse.job(row)
                assert errors == [] and record is not None
                assert record.job_type in codes.JOB_TYPES.values()
                outcomes.add(record.outcome)
        assert {Outcome.SUCCESS, Outcome.NOT_RUN} <= outcomes


# --- shapes the simulator does not send: a scripted transport -------------------------------------


def test_without_total_count_the_first_empty_page_ends_the_list() -> None:
    pages = {"1": [{"id": "a"}, {"id": "b"}], "2": [{"id": "c"}], "3": []}

    def answer(method: str, url: str) -> object:
        assert method == "POST"
        return {"data": pages[parse_qs(urlsplit(url).query)["pageIndex"][0]]}

    client, transport = scripted_client(answer)
    # A short page is not taken as the last: the server may page smaller than asked.
    assert [c["id"] for c in client.customers()] == ["a", "b", "c"]
    assert len(transport.calls) == 4  # the token, then three pages


@pytest.mark.parametrize(
    ("body", "rows"),
    [
        ({"data": [{"serviceType": "x"}]}, [{"serviceType": "x"}]),
        ({"value": [{"serviceType": "x"}], "@odata.context": "c"}, [{"serviceType": "x"}]),
        ([{"serviceType": "x"}], [{"serviceType": "x"}]),
        ({"data": {"serviceType": "x"}}, [{"serviceType": "x"}]),
        ({"serviceType": "x", "serviceModule": "y"}, [{"serviceType": "x", "serviceModule": "y"}]),
        ({"data": []}, []),
    ],
)
def test_overview_envelopes(body: object, rows: list[object]) -> None:
    client, _ = scripted_client(lambda method, url: body)
    assert client.protected("c1") == rows


@pytest.mark.parametrize("body", [{"data": None}, {"metadata": {}}, {}, "text", 5])
def test_overview_without_elements_is_an_error(body: object) -> None:
    client, _ = scripted_client(lambda method, url: body)
    with pytest.raises(ResponseFormatError, match="expected a list of elements"):
        client.protected("c1")


@pytest.mark.parametrize("body", [{"value": []}, [], {"data": "x"}, None])
def test_batch_without_a_data_list_is_an_error(body: object) -> None:
    client, _ = scripted_client(lambda method, url: body)
    with pytest.raises(ResponseFormatError, match="'data' list"):
        client.jobs("c1")
