"""The simulator as a client sees it: a real HTTP server on loopback, its fleet, tokens and faults."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from avepoint_simulator import (
    JOB_CATALOG,
    JOB_FIELDS,
    MISSING,
    ROUTE_CUSTOMER,
    ROUTE_CUSTOMERS,
    ROUTE_JOBS,
    ROUTE_TOKEN,
    Faults,
    FleetSpec,
    Simulator,
)
from avepoint_simulator.rows import format_duration, format_size
from tests.support import ROOT
from tests.support.api import ALL_SCOPES, get, get_token, session, token_response

START = 1_757_560_876.0  # 2025-09-11T03:21:16Z
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FINAL_STATUSES = {"Finished", "Finished with exception", "Failed", "Canceled", "Failed to start", "Skipped"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SIZE = re.compile(r"^\d+(\.\d+)? (KB|MB|GB)$")
DURATION = re.compile(r"^(\d+d)?(\d+h)?(\d+m)?\d+s$")


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Iterator[Simulator]:
    with Simulator(FleetSpec(customers=12, seed=1), clock=clock) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jobs_path(customer_id: str, job_type: str, job_module: str) -> str:
    return f"/partner/customers/{customer_id}/jobs/jobType/{quote(job_type)}/jobModule/{quote(job_module)}"


def size_bytes(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"KB": 2**10, "MB": 2**20, "GB": 2**30}[unit]


def make_assertion(
    key: rsa.RSAPrivateKey,
    aud: str,
    *,
    headers: dict[str, Any] | None = None,
    now: float | None = None,
    **claims: Any,
) -> str:
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "iss": "demo",
        "sub": "demo",
        "aud": aud,
        "jti": str(uuid.uuid4()),
        "iat": issued,
        "nbf": issued,
        "exp": issued + 300,
    }
    payload.update(claims)
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "ABC"} if headers is None else headers)


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def assertion_form(assertion: str) -> dict[str, str]:
    return {"client_id": "demo", "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}


# -- tokens -----------------------------------------------------------------------------------


def test_token_with_client_secret(sim: Simulator) -> None:
    response = token_response(sim, client_id="demo", client_secret="demo-secret")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert len(body["access_token"]) >= 32
    assert response.headers["Cache-Control"] == "no-store"
    assert get_token(sim) != body["access_token"]


@pytest.mark.parametrize(
    "form",
    [
        {"client_id": "demo", "client_secret": "wrong"},
        {"client_id": "other", "client_secret": "demo-secret"},
        {"client_id": "demo"},
        {},
    ],
)
def test_token_refuses_bad_credentials(sim: Simulator, form: dict[str, str]) -> None:
    response = token_response(sim, **form)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_client"}


def test_token_accepts_http_basic_client_credentials(sim: Simulator) -> None:
    data = {"grant_type": "client_credentials", "scope": ALL_SCOPES}
    assert requests.post(sim.token_url, data=data, auth=("demo", "demo-secret"), timeout=5).status_code == 200
    assert requests.post(sim.token_url, data=data, auth=("demo", "nope"), timeout=5).status_code == 400


@pytest.mark.parametrize(
    "scope",
    ["", "openid", "elements.everything", "partner.jobs.read.all partner.everything"],
)
def test_token_refuses_bad_scope(sim: Simulator, scope: str) -> None:
    response = token_response(sim, client_id="demo", client_secret="demo-secret", scope=scope)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_scope"}


def test_token_refuses_other_grants_and_methods(sim: Simulator) -> None:
    response = token_response(sim, client_id="demo", client_secret="demo-secret", grant_type="password")
    assert (response.status_code, response.json()) == (400, {"error": "unsupported_grant_type"})
    assert requests.get(sim.token_url, timeout=5).status_code == 405


def test_token_with_client_assertion(rsa_key: rsa.RSAPrivateKey) -> None:
    with Simulator(public_key_pem=public_pem(rsa_key)) as sim:
        good = token_response(sim, **assertion_form(make_assertion(rsa_key, sim.token_url)))
        assert good.status_code == 200, good.text
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {good.json()['access_token']}"
        assert get(s, sim, "/partner/customers").status_code == 200


def test_client_assertion_audience_is_the_url_the_client_used(rsa_key: rsa.RSAPrivateKey) -> None:
    with Simulator(public_key_pem=public_pem(rsa_key)) as sim:
        reached = sim.token_url.replace("127.0.0.1", "localhost")
        response = requests.post(
            reached,
            data={
                "grant_type": "client_credentials",
                "scope": ALL_SCOPES,
                **assertion_form(make_assertion(rsa_key, reached)),
            },
            timeout=5,
        )
        assert response.status_code == 200, response.text


def test_client_assertion_with_wrong_audience_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    with Simulator(public_key_pem=public_pem(rsa_key)) as sim:
        wrong = make_assertion(rsa_key, "https://identity.avepointonlineservices.com/connect/token")
        response = token_response(sim, **assertion_form(wrong))
        assert (response.status_code, response.json()) == (400, {"error": "invalid_client"})


def test_client_assertion_signed_with_another_key_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with Simulator(public_key_pem=public_pem(rsa_key)) as sim:
        response = token_response(sim, **assertion_form(make_assertion(other, sim.token_url)))
        assert (response.status_code, response.json()) == (400, {"error": "invalid_client"})


@pytest.mark.parametrize(
    ("headers", "claims"),
    [
        ({}, {}),  # neither kid nor x5t
        (None, {"sub": "someone-else"}),
        (None, {"iss": "someone-else"}),
        (None, {"jti": None}),
        (None, {"exp": int(time.time()) - 3600}),
        (None, {"nbf": int(time.time()) + 3600}),
    ],
)
def test_client_assertion_claims_are_checked(
    rsa_key: rsa.RSAPrivateKey, headers: dict[str, Any] | None, claims: dict[str, Any]
) -> None:
    with Simulator(public_key_pem=public_pem(rsa_key)) as sim:
        assertion = make_assertion(rsa_key, sim.token_url, headers=headers, **claims)
        if claims.get("jti", "") is None:
            payload = jwt.decode(assertion, options={"verify_signature": False})
            del payload["jti"]
            assertion = jwt.encode(payload, rsa_key, algorithm="RS256", headers={"kid": "ABC"})
        assert token_response(sim, **assertion_form(assertion)).status_code == 400


def test_client_assertion_cannot_be_replayed(rsa_key: rsa.RSAPrivateKey) -> None:
    with Simulator(public_key_pem=public_pem(rsa_key)) as sim:
        assertion = make_assertion(rsa_key, sim.token_url)
        assert token_response(sim, **assertion_form(assertion)).status_code == 200
        assert token_response(sim, **assertion_form(assertion)).status_code == 400


def test_client_assertion_valid_by_wall_clock_passes_while_the_fleet_clock_runs_ahead(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    clock = Clock(time.time() + 7200)
    with Simulator(public_key_pem=public_pem(rsa_key), clock=clock) as sim:
        assert token_response(sim, **assertion_form(make_assertion(rsa_key, sim.token_url))).status_code == 200
        by_fleet_clock = make_assertion(rsa_key, sim.token_url, now=clock.now)
        assert token_response(sim, **assertion_form(by_fleet_clock)).status_code == 200


def test_client_assertion_thumbprint_must_name_the_configured_certificate(rsa_key: rsa.RSAPrivateKey) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "simulator-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(rsa_key, hashes.SHA256())
    )
    sha1 = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER), usedforsecurity=False).digest()
    x5t = base64.urlsafe_b64encode(sha1).rstrip(b"=").decode()
    with Simulator(public_key_pem=cert.public_bytes(serialization.Encoding.PEM)) as sim:
        for headers in ({"kid": sha1.hex().upper()}, {"x5t": x5t}, {"kid": sha1.hex().upper(), "x5t": x5t}):
            response = token_response(sim, **assertion_form(make_assertion(rsa_key, sim.token_url, headers=headers)))
            assert response.status_code == 200, headers
        wrong = make_assertion(rsa_key, sim.token_url, headers={"kid": "00" * 20})
        assert token_response(sim, **assertion_form(wrong)).status_code == 400


def test_client_assertion_is_refused_without_a_configured_key(sim: Simulator, rsa_key: rsa.RSAPrivateKey) -> None:
    response = token_response(sim, **assertion_form(make_assertion(rsa_key, sim.token_url)))
    assert (response.status_code, response.json()) == (400, {"error": "invalid_client"})


# -- authorization of data routes ---------------------------------------------------------------


def test_data_routes_need_a_live_token(sim: Simulator, clock: Clock) -> None:
    plain = requests.Session()
    assert get(plain, sim, "/partner/customers").status_code == 401
    plain.headers["Authorization"] = "Bearer not-a-token"
    unknown = get(plain, sim, "/partner/customers")
    assert unknown.status_code == 401
    assert unknown.headers["WWW-Authenticate"].startswith("Bearer")

    s = session(sim)
    assert get(s, sim, "/partner/customers").status_code == 200
    clock.now += 3599
    assert get(s, sim, "/partner/customers").status_code == 200
    clock.now += 2  # past expires_in
    assert get(s, sim, "/partner/customers").status_code == 401


def test_revoked_tokens_answer_401(sim: Simulator) -> None:
    s = session(sim)
    assert get(s, sim, "/partner/customers").status_code == 200
    sim.revoke_tokens()
    assert get(s, sim, "/partner/customers").status_code == 401
    assert get(session(sim), sim, "/partner/customers").status_code == 200


def test_token_ttl_fault_shortens_tokens(sim: Simulator, clock: Clock) -> None:
    sim.faults.token_ttl = 60
    response = token_response(sim, client_id="demo", client_secret="demo-secret")
    assert response.json()["expires_in"] == 60
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    clock.now += 59
    assert get(s, sim, "/partner/customers").status_code == 200
    clock.now += 1
    assert get(s, sim, "/partner/customers").status_code == 401


def test_routes_need_their_scope(sim: Simulator) -> None:
    s = session(sim, scope="partner.customers.read.all")
    customer_id = sim.customer_ids[0]
    assert get(s, sim, "/partner/customers").status_code == 200
    assert get(s, sim, f"/partner/customers/{customer_id}/jobs").status_code == 403
    assert get(s, sim, f"/partner/customers/{customer_id}/protected").status_code == 403
    assert get(s, sim, "/partner/services").status_code == 403


# -- the fleet over HTTP ------------------------------------------------------------------------


def test_customers_list(sim: Simulator) -> None:
    response = get(session(sim), sim, "/partner/customers")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    uuid.UUID(response.headers["request-id"])
    body = response.json()
    assert body["@odata.context"].startswith(sim.base_url)
    assert "@odata.nextLink" not in body
    customers = body["value"]
    assert [c["id"] for c in customers] == sim.customer_ids
    assert len(customers) == 12
    assert customers == sim.customers
    for customer in customers:
        assert set(customer) == {"id", "organization", "ownerEmail", "jobStatus", "countryOrRegion"}
        assert uuid.UUID(customer["id"]).version == 4
        assert all(isinstance(value, str) and value for value in customer.values())
    assert len({c["organization"] for c in customers}) == 12
    assert customers[0]["organization"].endswith(" 001")


def test_customer_statuses_are_mostly_working() -> None:
    statuses = [c["jobStatus"] for c in Simulator(FleetSpec(customers=200)).customers]
    assert 0.6 < statuses.count("Working") / 200 < 0.95
    assert "N/A" in statuses


def test_customers_page_with_absolute_next_links(clock: Clock) -> None:
    with Simulator(FleetSpec(customers=12), clock=clock, page_size=5) as sim:
        s = session(sim)
        url: str | None = f"{sim.base_url}/partner/customers"
        pages: list[list[str]] = []
        while url:
            body = s.get(url, timeout=5).json()
            pages.append([c["id"] for c in body["value"]])
            url = body.get("@odata.nextLink")
            if url:
                assert url.startswith(f"{sim.base_url}/partner/customers?")
                assert f"$skip={5 * len(pages)}" in url
        assert [len(p) for p in pages] == [5, 5, 2]
        assert [i for p in pages for i in p] == sim.customer_ids
        assert get(s, sim, "/partner/customers?$skip=nope").status_code == 400


def test_one_customer_and_unknown_customers(sim: Simulator) -> None:
    s = session(sim)
    customer_id = sim.customer_ids[3]
    one = get(s, sim, f"/partner/customers/{customer_id}").json()
    assert one.pop("@odata.context").endswith("/partner/$metadata#Customers/$entity")
    assert one == sim.customers[3]
    unknown = str(uuid.uuid4())
    for path in (
        f"/partner/customers/{unknown}",
        f"/partner/customers/{unknown}/jobs",
        f"/partner/customers/{unknown}/protected",
        jobs_path(unknown, "Microsoft 365", "Exchange Online"),
    ):
        response = get(s, sim, path)
        assert response.status_code == 404, path
        assert response.json()["statusCode"] == 404


def test_job_rows_have_the_documented_shape() -> None:
    clock = Clock()
    with Simulator(FleetSpec(customers=40), clock=clock) as sim:
        s = session(sim)
        statuses: set[str] = set()
        for customer_id in sim.customer_ids:
            body = get(s, sim, f"/partner/customers/{customer_id}/jobs").json()
            assert body["@odata.context"].startswith(sim.base_url)
            rows = body["value"]
            assert rows == sim.jobs(customer_id)
            assert len({(r["jobType"], r["jobModule"]) for r in rows}) == len(rows)
            for row in rows:
                assert list(row) == list(JOB_FIELDS)
                assert all(isinstance(value, str) for value in row.values())
                counts = [int(row[k]) for k in ("failedCount", "successfulCount", "skippedCount", "warningCount")]
                assert sum(counts) == int(row["totalCount"])
                assert SIZE.match(row["backupSize"]) or row["backupSize"] == "0 GB"
                for key in ("startTime", "endTime", "lastModifyTime"):
                    assert ISO.match(row[key]) or row[key] == "N/A"
                assert DURATION.match(row["jobDuration"]) or row["jobDuration"] == "N/A"
                statuses.add(row["status"])
                if row["status"] == "Running":
                    assert row["endTime"] == "N/A"
                    assert row["lastModifyTime"] == "2025-09-11T03:21:16Z"
                elif row["jobId"] != "N/A":
                    assert row["lastModifyTime"] == row["endTime"]
        assert "Finished" in statuses
        assert statuses <= FINAL_STATUSES | {"Running", "Not Finished"}


def test_modules_that_never_ran_use_the_documented_row() -> None:
    sim = Simulator(FleetSpec(customers=60))
    rows = [row for cid in sim.customer_ids for row in sim.jobs(cid) if row["status"] == "Not Finished"]
    assert rows
    for row in rows:
        assert row["jobId"] == row["name"] == row["startTime"] == row["endTime"] == row["lastModifyTime"] == "N/A"
        assert row["totalCount"] == row["failedCount"] == "0"
        assert row["backupSize"] == "0 GB"


def test_fleet_uses_every_job_type_and_typical_module_counts() -> None:
    sim = Simulator(FleetSpec(customers=200))
    per_customer = [sim.jobs(cid) for cid in sim.customer_ids]
    types = {row["jobType"] for rows in per_customer for row in rows}
    # The legacy spelling of IaaS + PaaS (AvePoint/elements-samples powershell/docs/ElementsCustomersApi.md).
    assert types == {"Microsoft 365", "Google Workspace", "Azure", "Dynamics 365", "Salesforce"}
    m365_counts = [
        sum(r["jobType"] == "Microsoft 365" for r in rows)
        for rows in per_customer
        if rows and all(r["jobType"] == "Microsoft 365" for r in rows)
    ]
    assert m365_counts
    assert sum(4 <= n <= 8 for n in m365_counts) / len(m365_counts) > 0.9


@pytest.mark.parametrize("count", [0, 1, 20, len(JOB_CATALOG)])
def test_jobs_per_customer_fixes_the_number(count: int) -> None:
    sim = Simulator(FleetSpec(customers=30, jobs_per_customer=count))
    modules: set[str] = set()
    for customer_id in sim.customer_ids:
        rows = sim.jobs(customer_id)
        assert len(rows) == count
        assert len({(r["jobType"], r["jobModule"]) for r in rows}) == count
        modules |= {str(r["jobModule"]) for r in rows}
    if count >= 20:
        assert len(modules) == len(JOB_CATALOG)


def test_jobs_per_customer_beyond_the_catalog_is_refused() -> None:
    with pytest.raises(ValueError, match="jobs_per_customer"):
        FleetSpec(jobs_per_customer=len(JOB_CATALOG) + 1)


def test_jobs_by_type_and_module_with_percent_encoded_segments(sim: Simulator) -> None:
    s = session(sim)
    customer_id = sim.customer_ids[1]
    row = sim.jobs(customer_id)[0]
    job_type, job_module = str(row["jobType"]), str(row["jobModule"])
    path = jobs_path(customer_id, job_type, job_module)
    assert "%20" in path
    body = get(s, sim, path).json()
    assert body["value"] == [row]
    # `+` is a literal plus in a path: a client that form-encodes spaces finds nothing.
    plus = path.replace("%20", "+")
    assert get(s, sim, plus).json()["value"] == []
    assert get(s, sim, jobs_path(customer_id, "Microsoft 365", "No Such Module")).json()["value"] == []


def test_protected_data_shape(sim: Simulator) -> None:
    s = session(sim)
    seen = 0
    for customer_id in sim.customer_ids:
        body = get(s, sim, f"/partner/customers/{customer_id}/protected").json()
        m365 = {str(r["jobModule"]) for r in sim.jobs(customer_id) if r["jobType"] == "Microsoft 365"}
        assert {r["serviceModule"] for r in body["value"]} == m365
        for row in body["value"]:
            seen += 1
            assert row["customerId"] == customer_id
            assert row["serviceType"] == "Cloud Backup for Microsoft 365"
            assert isinstance(row["totalScannedObjects"], int)
            assert 0 <= row["totalProtectedObjects"] <= row["totalScannedObjects"]
            sizes = (row["dataSizeStoredInAvePoint"], row["dataSizeStoredInBYOS"])
            assert all(SIZE.match(v) or v in ("0 GB", "N/A") for v in sizes)
            assert "N/A" in sizes
    assert seen > 0


def test_services_shape(sim: Simulator) -> None:
    body = get(session(sim), sim, "/partner/services").json()
    services = body["value"]
    assert [s["customerId"] for s in services] == sim.customer_ids
    fields = {
        "service", "subscriptionModel", "purchasedUserSeats", "purchasedUnits", "microsoftLicenseAssigned",
        "microsoftLicenseAvailable", "purchasedCapacity", "protectedCapacity", "storage", "retention",
        "consumedStorage", "expirationDate", "change", "source", "paymentType", "subscriptionName", "package",
        "contractEndDate",
    }  # fmt: skip
    na_seen = False
    for service in services:
        assert set(service) == {"customerId", "organization", "customer", "tenantId", "products"}
        assert all(uuid.UUID(t) for t in service["tenantId"].split(","))
        assert service["products"]
        for product in service["products"]:
            assert set(product) == fields
            assert all(isinstance(v, str) for v in product.values())
            assert re.match(r"^\d{4}-\d\d-\d\d$", product["expirationDate"])
            na_seen = na_seen or "N/A" in product.values()
    assert na_seen


def test_same_seed_and_clock_give_the_same_bodies(clock: Clock) -> None:
    def bodies(seed: int) -> list[Any]:
        with Simulator(FleetSpec(customers=6, seed=seed), clock=clock) as sim:
            s = session(sim)
            out: list[Any] = [get(s, sim, "/partner/customers").json()["value"]]
            out += [get(s, sim, f"/partner/customers/{c}/jobs").json()["value"] for c in sim.customer_ids]
            out += [get(s, sim, f"/partner/customers/{c}/protected").json()["value"] for c in sim.customer_ids]
            out.append(get(s, sim, "/partner/services").json()["value"])
            return out

    first, again, other = bodies(1), bodies(1), bodies(2)
    assert first == again
    assert {c["id"] for c in first[0]}.isdisjoint({c["id"] for c in other[0]})
    assert first[1:7] != other[1:7]


def test_a_run_goes_from_running_to_a_final_status(clock: Clock) -> None:
    sim = Simulator(FleetSpec(customers=3), clock=clock, job_period=3600)
    customer_id = sim.customer_ids[0]
    row = next(r for r in sim.jobs(customer_id) if r["status"] != "Not Finished")
    job_type, job_module = str(row["jobType"]), str(row["jobModule"])
    window = sim.run_window(customer_id, job_type, job_module)
    assert window is not None
    start, end = window
    next_start = start + 3600
    clock.now = next_start + 1
    with sim:
        s = session(sim)
        path = jobs_path(customer_id, job_type, job_module)
        running = get(s, sim, path).json()["value"][0]
        assert running["status"] == "Running"
        assert running["endTime"] == "N/A"
        clock.now = next_start + (end - start)
        final = get(s, sim, path).json()["value"][0]
        assert final["status"] in FINAL_STATUSES
        assert final["jobId"] == running["jobId"]
        assert final["startTime"] == running["startTime"]
        assert final["endTime"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.now))
        assert final["jobDuration"] == format_duration(int(end - start))
        assert int(final["totalCount"]) >= int(running["totalCount"])
        clock.now = next_start + 3601
        s = session(sim)  # the first token has expired by now
        assert get(s, sim, path).json()["value"][0]["jobId"] != final["jobId"]


def test_outcomes_follow_the_documented_mix(clock: Clock) -> None:
    sim = Simulator(FleetSpec(customers=20), clock=clock)
    final: list[dict[str, object]] = []
    for day in range(60):
        for customer_id in sim.customer_ids:
            rows = sim.jobs(customer_id, at=START + day * 86400.0)
            final += [r for r in rows if r["status"] in FINAL_STATUSES]
    statuses = [r["status"] for r in final]
    assert 0.78 < statuses.count("Finished") / len(statuses) < 0.92
    assert 0.03 < statuses.count("Finished with exception") / len(statuses) < 0.12
    assert 0.02 < statuses.count("Failed") / len(statuses) < 0.09
    assert set(statuses) == FINAL_STATUSES
    assert all(int(str(r["warningCount"])) > 0 for r in final if r["status"] == "Finished with exception")
    # A failed job may count no failed object (the v3 sample: status 3, failedCount "0").
    failed_counts = {int(str(r["failedCount"])) > 0 for r in final if r["status"] == "Failed"}
    assert failed_counts == {True, False}
    assert all(r["backupSize"] == "0 GB" for r in final if r["status"] in ("Skipped", "Failed to start"))


def test_backup_sizes_grow_over_the_runs(clock: Clock) -> None:
    sim = Simulator(FleetSpec(customers=1, jobs_per_customer=5), clock=clock)
    customer_id = sim.customer_ids[0]
    grown = 0
    for index in range(5):
        sizes = []
        for day in range(0, 720, 30):
            row = sim.jobs(customer_id, at=START + day * 86400.0)[index]
            if row["status"] == "Finished":
                sizes.append(size_bytes(str(row["backupSize"])))
        if len(sizes) > 2:
            assert sizes == sorted(sizes)
            grown += sizes[-1] > sizes[0]
    assert grown >= 3


@pytest.mark.parametrize(
    ("n_bytes", "text"),
    [(0, "0 GB"), (12.5 * 2**30, "12.5 GB"), (500 * 2**30, "500 GB"), (512 * 2**20, "512 MB"), (3000, "3 KB")],
)
def test_format_size(n_bytes: float, text: str) -> None:
    assert format_size(n_bytes) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (45, "45s"), (1059, "17m39s"), (3723, "1h2m3s"), (93784, "1d2h3m4s")]
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


# -- scripted scenarios -------------------------------------------------------------------------


def test_pin_and_unpin_a_row(sim: Simulator, clock: Clock) -> None:
    s = session(sim)
    customer_id = sim.customer_ids[2]
    row = sim.jobs(customer_id)[0]
    key = (customer_id, str(row["jobType"]), str(row["jobModule"]))
    path = jobs_path(*key)
    sim.pin(*key, status="Failed", failedCount="3", endTime="2025-09-11T01:00:00Z")
    clock.now += 7 * 86400  # pins hold from now on, whatever the schedule does
    s = session(sim)
    pinned = get(s, sim, path).json()["value"][0]
    assert (pinned["status"], pinned["failedCount"], pinned["endTime"]) == ("Failed", "3", "2025-09-11T01:00:00Z")
    sim.pin(*key, backupSize=MISSING, totalCount=17)
    pinned = get(s, sim, path).json()["value"][0]
    assert "backupSize" not in pinned
    assert pinned["totalCount"] == 17  # integers, as sent before Feb 2025
    assert pinned["status"] == "Failed"
    sim.unpin(*key, "status")
    assert get(s, sim, path).json()["value"][0]["status"] != "Failed" or row["status"] == "Failed"
    sim.unpin(*key)
    assert get(s, sim, path).json()["value"] == sim.jobs(customer_id)[:1]
    assert "backupSize" in sim.jobs(customer_id)[0]


def test_pin_can_add_a_module(sim: Simulator) -> None:
    customer_id = sim.customer_ids[0]
    before = len(sim.jobs(customer_id))
    sim.pin(customer_id, "Microsoft 365", "Viva Engage", status="Finished", totalCount="5")
    rows = sim.jobs(customer_id)
    assert len(rows) == before + 1
    assert rows[-1]["jobModule"] == "Viva Engage"
    assert rows[-1]["totalCount"] == "5"
    sim.unpin(customer_id, "Microsoft 365", "Viva Engage")
    assert len(sim.jobs(customer_id)) == before


def test_remove_and_restore_a_customer(sim: Simulator) -> None:
    s = session(sim)
    customer_id = sim.customer_ids[4]
    sim.remove_customer(customer_id)
    listed = [c["id"] for c in get(s, sim, "/partner/customers").json()["value"]]
    assert customer_id not in listed
    assert len(listed) == 11
    assert get(s, sim, f"/partner/customers/{customer_id}/jobs").status_code == 404
    assert customer_id not in [c["customerId"] for c in get(s, sim, "/partner/services").json()["value"]]
    sim.restore_customer(customer_id)
    assert get(s, sim, f"/partner/customers/{customer_id}/jobs").status_code == 200
    assert [c["id"] for c in get(s, sim, "/partner/customers").json()["value"]][4] == customer_id
    with pytest.raises(KeyError):
        sim.remove_customer("no-such-customer")


# -- faults -------------------------------------------------------------------------------------


def test_latency_delays_data_requests_and_token_latency_the_token_endpoint(sim: Simulator) -> None:
    s = session(sim)
    sim.faults.latency = 0.2
    began = time.monotonic()
    assert get(s, sim, "/partner/customers").status_code == 200
    assert time.monotonic() - began >= 0.2
    began = time.monotonic()
    get_token(sim)
    assert time.monotonic() - began < 0.2
    sim.faults.latency, sim.faults.token_latency = 0.0, 0.2
    began = time.monotonic()
    get_token(sim)
    assert time.monotonic() - began >= 0.2


def test_error_rate_one_mixes_every_failure_kind() -> None:
    # The timeout fault sleeps twice the client's timeout, which is itself far above an answer's time even on a
    # loaded machine: an ordinary error answer must never be counted as a timeout.
    with Simulator(fault_seed=3, faults=Faults(timeout_sleep=0.8)) as sim:
        s = session(sim)
        sim.faults.error_rate = 1.0
        statuses: list[int] = []
        retry_after: set[str | None] = set()
        timeouts = 0
        for _ in range(70):
            try:
                response = get(s, sim, "/partner/customers", timeout=0.4)
            except requests.ReadTimeout:
                timeouts += 1
                continue
            statuses.append(response.status_code)
            assert response.json()["statusCode"] == response.status_code
            if response.status_code == 429:
                retry_after.add(response.headers.get("Retry-After"))
        assert set(statuses) == {500, 502, 503, 504, 429}
        assert retry_after == {"1", None}
        assert timeouts > 0


def test_error_rate_fails_about_that_share(sim: Simulator) -> None:
    s = session(sim)
    sim.faults.timeout_sleep = 0.0  # a "timeout" then answers at once, normally
    sim.faults.error_rate = 0.3
    codes = [get(s, sim, "/partner/customers").status_code for _ in range(200)]
    assert 0.2 < sum(code != 200 for code in codes) / 200 < 0.4


def test_status_override_answers_every_data_request(sim: Simulator) -> None:
    s = session(sim)
    sim.faults.status_override = 503
    sim.faults.retry_after = 7
    response = get(s, sim, f"/partner/customers/{sim.customer_ids[0]}/jobs")
    assert response.status_code == 503
    body = response.json()
    assert body["statusCode"] == 503
    assert body["requestId"] == response.headers["request-id"]
    assert response.headers["Retry-After"] == "7"
    assert get_token(sim)  # the token endpoint has its own switch
    sim.faults.status_override = None
    assert get(s, sim, "/partner/customers").status_code == 200


def test_html_errors(sim: Simulator) -> None:
    s = session(sim)
    sim.faults.html_errors = True
    missing = get(s, sim, "/partner/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("text/html")
    assert missing.text.startswith("<html>")
    sim.faults.status_override = 502
    gateway = get(s, sim, "/partner/customers")
    assert gateway.status_code == 502
    assert "502 Bad Gateway" in gateway.text
    with pytest.raises(json.JSONDecodeError):
        json.loads(gateway.text)


def test_html_ok(sim: Simulator) -> None:
    s = session(sim)
    sim.faults.html_ok = True
    response = get(s, sim, "/partner/customers")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert token_response(sim, client_id="demo", client_secret="demo-secret").json()["token_type"] == "Bearer"


def test_truncated_bodies(sim: Simulator) -> None:
    s = session(sim)
    path = f"/partner/customers/{sim.customer_ids[0]}/jobs"
    whole = get(s, sim, path).content
    sim.faults.truncated = True
    response = get(s, sim, path)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content) == len(whole) // 2
    assert whole.startswith(response.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_rate_limit_burst(sim: Simulator) -> None:
    s = session(sim)
    sim.faults.rate_limit_burst = 3
    sim.faults.retry_after = 2
    codes = [get(s, sim, "/partner/customers").status_code for _ in range(3)]
    limited = get(s, sim, "/partner/customers")
    assert codes == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    sim.faults.retry_after = None
    assert "Retry-After" not in get(s, sim, "/partner/customers").headers
    time.sleep(1.05)
    assert get(s, sim, "/partner/customers").status_code == 200


@pytest.mark.parametrize("status", [400, 401, 500])
def test_token_status(sim: Simulator, status: int) -> None:
    s = session(sim)
    sim.faults.token_status = status
    response = token_response(sim, client_id="demo", client_secret="demo-secret")
    assert response.status_code == status
    assert "error" in response.json()
    assert get(s, sim, "/partner/customers").status_code == 200  # tokens already issued still work


def test_failing_and_forbidden_customers(sim: Simulator) -> None:
    s = session(sim)
    failing, forbidden, healthy = sim.customer_ids[:3]
    sim.faults.failing_customers.add(failing)
    sim.faults.forbidden_customers.add(forbidden)
    assert get(s, sim, f"/partner/customers/{failing}/jobs").status_code == 500
    assert get(s, sim, f"/partner/customers/{failing}/protected").status_code == 500
    assert get(s, sim, f"/partner/customers/{forbidden}/jobs").status_code == 403
    assert get(s, sim, f"/partner/customers/{healthy}/jobs").status_code == 200
    assert get(s, sim, "/partner/customers").status_code == 200


def test_stop_is_prompt_while_a_timeout_sleeps() -> None:
    sim = Simulator(fault_seed=5)
    sim.start()
    port = sim.base_url.rsplit(":", 1)[1]
    s = session(sim)
    sim.faults.error_rate = 1.0  # timeout_sleep stays at its default, 30 s
    for _ in range(40):
        try:
            get(s, sim, "/partner/customers", timeout=0.2)
        except requests.ReadTimeout:
            break
    else:
        pytest.fail("no timeout fault in 40 requests")

    def handlers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == f"avepoint-sim-{port}-conn" and t.is_alive()]

    assert handlers()
    began = time.monotonic()
    sim.stop()
    assert time.monotonic() - began < 1.0
    assert handlers() == []
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{sim.base_url}/partner/customers", timeout=2)


# -- HTTP details and observability -------------------------------------------------------------


def test_unknown_route_and_wrong_method(sim: Simulator) -> None:
    s = session(sim)
    response = get(s, sim, "/partner/nothing")
    assert response.status_code == 404
    body = response.json()
    assert body["statusCode"] == 404
    assert body["requestId"] == response.headers["request-id"]
    assert s.post(f"{sim.base_url}/partner/customers", timeout=5).status_code == 405


def test_counters_and_request_log(sim: Simulator) -> None:
    s = session(sim)
    customer_id = sim.customer_ids[0]
    get(s, sim, "/partner/customers")
    get(s, sim, f"/partner/customers/{customer_id}")
    get(s, sim, f"/partner/customers/{customer_id}/jobs")
    get(s, sim, f"/partner/customers/{customer_id}/jobs")
    requests.get(f"{sim.base_url}/partner/customers", timeout=5)
    counts = sim.requests
    assert counts[(ROUTE_TOKEN, 200)] == 1
    assert counts[(ROUTE_CUSTOMERS, 200)] == 1
    assert counts[(ROUTE_CUSTOMER, 200)] == 1
    assert counts[(ROUTE_JOBS, 200)] == 2
    assert counts[(ROUTE_CUSTOMERS, 401)] == 1
    log = sim.request_log
    assert [(m, p, c) for _, m, p, c in log][-2:] == [
        ("GET", f"/partner/customers/{customer_id}/jobs", 200),
        ("GET", "/partner/customers", 401),
    ]
    sim.reset_counters()
    assert sim.requests == {}
    assert len(sim.request_log) == 0


def test_keep_alive_reuses_one_connection(sim: Simulator) -> None:
    s = session(sim)  # the token came over another connection
    for _ in range(10):
        assert get(s, sim, "/partner/customers").status_code == 200
    assert sim.connections_accepted == 2


def test_context_manager_stops_the_server() -> None:
    with Simulator(FleetSpec(customers=2)) as sim:
        url = f"{sim.base_url}/partner/customers"
        assert requests.get(url, timeout=5).status_code == 401
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


def test_main_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "avepoint_simulator", "--listen", "127.0.0.1:0", "--customers", "3", "--seed", "7"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert re.match(r"^http://127\.0\.0\.1:\d+$", base_url)
        token = requests.post(
            f"{base_url}/connect/token",
            data={"grant_type": "client_credentials", "client_id": "demo", "client_secret": "demo-secret",
                  "scope": ALL_SCOPES},
            timeout=5,
        ).json()["access_token"]  # fmt: skip
        customers = requests.get(
            f"{base_url}/partner/customers", headers={"Authorization": f"Bearer {token}"}, timeout=5
        ).json()["value"]
        assert [c["id"] for c in customers] == Simulator(FleetSpec(customers=3, seed=7)).customer_ids
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
