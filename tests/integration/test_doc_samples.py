"""AvePoint's published response samples, served verbatim over loopback: what each one exports, field by field.

The samples are under tests/fixtures/avepoint/ (see its README for the page each comes from and the few
syntax repairs). A sample is served as it is; only the customer listing of the services runs is made here,
because the services samples name customers that the customers samples do not list.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from exporter import config
from exporter.exposition.text import encode
from exporter.model import Customer, Job, Outcome, ProtectedData, Snapshot, Subscription, Tenant
from exporter.refresh import Refresher
from exporter.upstream import Client, parse
from tests.support import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "avepoint"
GB = 1024**3
V3 = "/partner/external/v3/general"


def sample(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC).timestamp()


class Upstream:
    """A loopback AvePoint answering each route with one sample; `*` in a route matches one path segment."""

    def __init__(self, routes: dict[tuple[str, str], bytes]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str]] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                path = urlsplit(self.path).path
                upstream.requests.append((self.command, unquote(path)))
                body = upstream.find(self.command, path)
                self.send_response(200 if body is not None else 404)
                body = body if body is not None else b'{"statusCode": 404, "message": "no sample"}'
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = answer

            def log_message(self, fmt: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def find(self, method: str, path: str) -> bytes | None:
        if path == "/connect/token":
            return b'{"access_token": "sample-token", "token_type": "Bearer", "expires_in": 3600}'
        parts = path.strip("/").split("/")
        for (want_method, route), body in self.routes.items():
            pattern = route.strip("/").split("/")
            if (
                want_method == method
                and len(pattern) == len(parts)
                and all(p in ("*", unquote(q)) for p, q in zip(pattern, parts, strict=True))
            ):
                return body
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[Upstream] = []

    def start(routes: dict[tuple[str, str], bytes]) -> Upstream:
        started.append(Upstream(routes))
        return started[-1]

    yield start
    for upstream in started:
        upstream.close()


def refresh(
    upstream: Upstream, version: str, **extra: Any
) -> tuple[Snapshot, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    cfg = config.from_mapping(
        {
            "api": {
                "base_url": upstream.url,
                "token_url": upstream.url + "/connect/token",
                "version": version,
                "retries": 0,
                "max_requests_per_second": 1000,
            },
            "auth": {"client_id": "sample", "client_secret": "sample"},
            "endpoints": {"protected": True, "services": True},
            **extra,
        }
    )
    refresher = Refresher(cfg, Client(cfg.api, cfg.auth), clock=lambda: 0.0, wall_clock=lambda: 1_760_000_000.0)
    try:
        snap = refresher.snapshot_within(wait=10)
    finally:
        refresher.close()
    series = {}
    for family in text_string_to_metric_families(encode(snap).decode()):
        for s in family.samples:
            series[(s.name, frozenset(s.labels.items()))] = s.value
    return snap, series


def state_of(snap: Snapshot, customer_id: str) -> Any:
    (state,) = [c for c in snap.customers if c.customer.id == customer_id]
    return state


def never_run(module: str) -> Job:
    """The documented legacy row of a module without a job: every count "0", size "0 GB", times N/A."""
    counts = (0, 0, 0, 0, 0)  # objects, failed, successful, skipped, warning
    return Job("Microsoft 365", module, None, None, "Not Finished", Outcome.NOT_RUN, *counts, 0.0, never_ran=True)


LEGACY_CUSTOMERS = (
    Customer("00427fbc-8832-****-***-582fa46ec638", "AvePoint test", "Vietnam", "Working"),
    Customer("0088e14d-5275-****-***-bcb9fc33ebdb", "AvePoint test", "Vietnam", "Working"),
    Customer("00e4dde9-9b3f-****-***-25705db15101", "AvePoint HN test", "United States", "Working"),
)
PROTECTED_LEGACY = (
    ProtectedData("Cloud Backup for Microsoft 365", "Exchange Online", 0, 0, 0.0, None),
    ProtectedData("Cloud Backup for Microsoft 365", "Microsoft 365 Group", 0, 0, 0.0, None),
)


def legacy_routes(services: bytes = b'{"value": []}') -> dict[tuple[str, str], bytes]:
    return {
        ("GET", "/partner/customers"): sample("legacy-customers.json"),
        ("GET", "/partner/customers/*"): sample("legacy-customer.json"),
        ("GET", "/partner/customers/*/jobs"): sample("legacy-jobs.json"),
        ("GET", "/partner/customers/*/jobs/jobType/*/jobModule/*"): sample("legacy-jobs-by-module.json"),
        ("GET", "/partner/customers/*/protected"): sample("legacy-protected.json"),
        ("GET", "/partner/services"): services,
    }


def test_legacy_customers_jobs_and_protected_samples(serve: Any) -> None:
    snap, series = refresh(serve(legacy_routes()), "legacy")
    assert tuple(c.customer for c in snap.customers) == LEGACY_CUSTOMERS
    for customer in LEGACY_CUSTOMERS:
        state = state_of(snap, customer.id)
        assert state.jobs == (never_run("Exchange Online"), never_run("SharePoint Online"))
        assert state.protected == PROTECTED_LEGACY
        assert state.attempt.success and state.protected_attempt.success
    cid = LEGACY_CUSTOMERS[0].id
    job = {("customer_id", cid), ("job_type", "Microsoft 365"), ("job_module", "SharePoint Online")}
    assert (
        series[("avepoint_backup_job_status", frozenset(job | {("status", "Not Finished"), ("outcome", "not_run")}))]
        == 1
    )
    assert series[("avepoint_backup_job_info", frozenset(job | {("job_id", ""), ("job_name", "")}))] == 1
    assert series[("avepoint_backup_job_objects", frozenset(job))] == 0
    assert series[("avepoint_backup_job_size_bytes", frozenset(job))] == 0
    # N/A times and duration are left out, never 0.
    for name in ("duration_seconds", "start_timestamp_seconds", "end_timestamp_seconds"):
        assert ("avepoint_backup_job_" + name, frozenset(job)) not in series
    stored = {("customer_id", cid), ("service", "Cloud Backup for Microsoft 365"), ("module", "Microsoft 365 Group")}
    assert series[("avepoint_protected_data_bytes", frozenset(stored | {("storage", "avepoint")}))] == 0
    assert ("avepoint_protected_data_bytes", frozenset(stored | {("storage", "byos")})) not in series


def test_legacy_specific_jobs_sample(serve: Any) -> None:
    upstream = serve(legacy_routes())
    select = {"jobs": {"select": [{"job_type": "Microsoft 365", "job_module": "SharePoint Online"}]}}
    snap, _ = refresh(upstream, "legacy", **select)
    assert state_of(snap, LEGACY_CUSTOMERS[0].id).jobs == (never_run("SharePoint Online"),)
    assert (
        "GET",
        f"/partner/customers/{LEGACY_CUSTOMERS[0].id}/jobs/jobType/Microsoft 365/jobModule/SharePoint Online",
    ) in upstream.requests


def test_legacy_specific_customer_and_customer_services_samples(serve: Any) -> None:
    # Routes the exporter does not call; their samples must still read as the list routes' elements do.
    upstream = serve({**legacy_routes(), ("GET", "/partner/services/*"): sample("legacy-services-customer.json")})
    one = requests.get(upstream.url + "/partner/customers/00427fbc-8832-46cf-a1d2-582fa46ec638", timeout=5).json()
    assert parse.customer(one) == (
        Customer("00427fbc-8832-46cf-a1d2-582fa46ec638", "AvePoint test", "Vietnam", "Working"),
        [],
    )
    element = requests.get(upstream.url + "/partner/services/caf94a75", timeout=5).json()
    subs, errors = parse.subscriptions(element)
    assert errors == []
    cid = "caf94a75-2cc6-43aa-b04b-794cb9af5ea3"
    blob = "AvePoint storage (Microsoft Azure Blob)"
    apr, mar = ts("2025-04-05T00:00:00Z"), ts("2025-03-01T00:00:00Z")
    assert subs == [
        Subscription(cid, "Cloud Backup for IaaS + PaaS - Azure Storage", storage=blob, expiry=apr,
                     licenses_available=133, capacity_purchased_bytes=5 * GB, capacity_protected_bytes=0.0),
        Subscription(cid, "Cloud Backup for IaaS + PaaS - Virtual Machine", storage=blob, expiry=apr,
                     purchased_seats=100, licenses_assigned=124, licenses_available=133),
        Subscription(cid, "Cloud Backup for IaaS + PaaS - Amazon EC2", storage=blob, expiry=mar,
                     purchased_seats=10, licenses_assigned=124, licenses_available=133),
        Subscription(cid, "Cloud Backup for IaaS + PaaS - Azure SQL", storage=blob, expiry=apr,
                     licenses_available=133, capacity_purchased_bytes=500 * GB, capacity_protected_bytes=0.0),
    ]  # fmt: skip


def test_legacy_services_sample(serve: Any) -> None:
    # Both elements of the sample carry the same (masked) customerId: their products are one customer's.
    listing = json.dumps({"value": [{"id": "b521-b521-b521-b521-b521", "organization": "APETest_AOS_QA"}]}).encode()
    routes = {**legacy_routes(sample("legacy-services.json")), ("GET", "/partner/customers"): listing}
    snap, series = refresh(serve(routes), "legacy")
    cid = "b521-b521-b521-b521-b521"
    feb = ts("2025-02-01T00:00:00Z")
    assert state_of(snap, cid).subscriptions == (
        Subscription(cid, "Cense", expiry=feb, purchased_seats=10, licenses_assigned=0, licenses_available=0),
        Subscription(cid, "Opus - Discovery and analysis", storage="AvePoint storage", expiry=feb,
                     licenses_assigned=0, licenses_available=0, capacity_purchased_bytes=1024 * GB),
        Subscription(cid, "Opus - Information lifecycle", storage="AvePoint storage", expiry=feb, purchased_seats=40,
                     licenses_assigned=14, licenses_available=0),
        Subscription(cid, "Opus - Storage optimization", model="Action and store", storage="AvePoint storage",
                     expiry=feb, licenses_assigned=0, licenses_available=0, capacity_purchased_bytes=3072 * GB),
    )  # fmt: skip
    labels = frozenset({("customer_id", cid), ("service", "Cense"), ("subscription", "")})
    assert series[("avepoint_subscription_expiry_timestamp_seconds", labels)] == feb
    assert ("avepoint_subscription_capacity_consumed_bytes", labels) not in series


V3_CUSTOMERS = (
    Customer(
        "03f7382e-****-1cda-****-dd9a****74f0",
        "OrganizationABC",
        "Afghanistan",
        "N/A",
        "Partner management of tenant",
        (Tenant("03f7382e-****-1bcd-****-dd9a****74f0", "Tenant ABC"),),
    ),
    Customer("03f7382e-****-1bac-****-dd9a****74f0", "OrganizationDEF", "Afghanistan", "N/A", "To be configured"),
)


def v3_routes(services: bytes = b'{"data": [], "metadata": {"totalCount": 0}}') -> dict[tuple[str, str], bytes]:
    return {
        ("POST", V3 + "/customers/batch"): sample("v3-customers.json"),
        ("POST", V3 + "/customers/*/avpt-products/jobs/batch"): sample("v3-jobs.json"),
        ("GET", V3 + "/customers/*/cloud-backup-m365/overview"): sample("v3-overview.json"),
        ("POST", V3 + "/customers/services/batch"): services,
        # The user seats (read with the subscriptions): none unless a test serves the sample.
        (
            "POST",
            V3 + "/customers/*/3rd-party-products/type/*/tenants/batch",
        ): b'{"data": [], "metadata": {"totalCount": 0}}',
    }


def test_v3_customers_jobs_and_overview_samples(serve: Any) -> None:
    snap, series = refresh(serve(v3_routes()), "v3")
    assert tuple(c.customer for c in snap.customers) == tuple(sorted(V3_CUSTOMERS, key=lambda c: c.id))
    failed = Job(
        "Microsoft 365",
        "Microsoft 365 Groups",  # code 304
        "FB20****1103****214502",
        None,  # "N/A"
        "Failed",  # code 3; the outcome comes from the status, not from failedCount "0"
        Outcome.FAILED,
        objects=2323,
        failed_objects=0,
        successful_objects=2323,
        skipped_objects=0,
        warning_objects=0,
        size_bytes=0.0,
        duration_seconds=17 * 60 + 39.0,
        start_time=ts("2025-09-11T03:21:16Z"),
        end_time=ts("2025-09-11T03:38:56Z"),
        last_modified=ts("2025-09-11T03:38:57Z"),
    )
    for customer in V3_CUSTOMERS:
        state = state_of(snap, customer.id)
        assert state.jobs == (failed,)
        assert state.protected == (
            ProtectedData("Cloud Backup for Microsoft 365", "Exchange Online", 25, 25, 0.0, None),
            ProtectedData("Cloud Backup for Microsoft 365", "Microsoft 365 Group", 7, 7, 0.0, None),
        )
    cid = V3_CUSTOMERS[0].id
    job = {("customer_id", cid), ("job_type", "Microsoft 365"), ("job_module", "Microsoft 365 Groups")}
    assert series[("avepoint_backup_job_status", frozenset(job | {("status", "Failed"), ("outcome", "failed")}))] == 1
    assert series[("avepoint_backup_job_kind", frozenset(job | {("kind", "backup")}))] == 1
    assert series[("avepoint_backup_job_duration_seconds", frozenset(job))] == 1059
    assert series[("avepoint_backup_job_failed_objects", frozenset(job))] == 0
    assert ("avepoint_backup_job_last_success_timestamp_seconds", frozenset(job)) not in series
    info = {("customer_id", cid), ("organization", "OrganizationABC"), ("country", "Afghanistan")}
    assert (
        series[("avepoint_customer_info", frozenset(info | {("management_mode", "Partner management of tenant")}))] == 1
    )


def test_v3_services_sample(serve: Any) -> None:
    cid = "1c10525c-****-****-****-2e641bc13421"
    listing = json.dumps({"data": [{"id": cid, "organization": "OrganizationABC"}], "metadata": {"totalCount": 1}})
    routes = {**v3_routes(sample("v3-services.json")), ("POST", V3 + "/customers/batch"): listing.encode()}
    snap, series = refresh(serve(routes), "v3")
    sep = ts("2025-09-26T00:00:00Z")
    assert state_of(snap, cid).subscriptions == (
        # "0/1 GB" with consumedStorage "N/A": purchased 1 GB; the undocumented "0" is not a consumed figure.
        Subscription(cid, "Cloud Backup for IaaS + PaaS - Unit", storage="Bring your own storage", expiry=sep,
                     licenses_assigned=0, licenses_available=0, capacity_purchased_bytes=1 * GB,
                     capacity_protected_bytes=0.0),
        Subscription(cid, "Fly Migration to Google", expiry=sep, purchased_seats=2, licenses_assigned=0,
                     licenses_available=0),
    )  # fmt: skip
    labels = frozenset({("customer_id", cid), ("service", "Cloud Backup for IaaS + PaaS - Unit"), ("subscription", "")})
    assert series[("avepoint_subscription_capacity_purchased_bytes", labels)] == GB
    assert ("avepoint_subscription_capacity_consumed_bytes", labels) not in series
