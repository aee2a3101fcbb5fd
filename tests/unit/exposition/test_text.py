"""The exposition: golden files, validity (prometheus_client's parser and promtool), left-out values."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from exporter import config
from exporter.exposition import ExpositionCache
from exporter.exposition.families import Jobs
from exporter.exposition.text import encode, header, job_lines
from exporter.model import (
    Attempt,
    Customer,
    CustomerState,
    Failure,
    Job,
    Outcome,
    ProtectedData,
    Runs,
    ScanProfile,
    Snapshot,
    Subscription,
    Tenant,
    TenantSeats,
)
from tests.support import ROOT

GOLDEN = ROOT / "tests" / "golden"


class Families(Collector):
    def __init__(self, items: list[Metric]) -> None:
        self.items = items

    def collect(self) -> Iterator[Metric]:
        return iter(self.items)


CFG = config.Config(
    jobs=config.JobsConfig(
        expected_interval_overrides=(config.IntervalOverride(interval=3600, job_module="Exchange Online"),)
    )
)


def snapshot(generation: int = 1) -> Snapshot:
    full = Job(
        job_type="Microsoft 365",
        job_module="Exchange Online",
        job_id="job-1",
        name="Daily mail",
        status="Finished with exception",
        outcome=Outcome.WARNING,
        objects=120,
        failed_objects=0,
        successful_objects=118,
        skipped_objects=1,
        warning_objects=1,
        size_bytes=1.5 * 2**30,
        duration_seconds=1059.0,
        start_time=1757560876.0,
        end_time=1757561935.0,
        last_modified=1757561935.0,
    )
    never = Job(
        job_type="Microsoft 365",
        job_module="SharePoint Online",
        job_id=None,
        name=None,
        status="Not Finished",
        outcome=Outcome.NOT_RUN,
        objects=0,
        failed_objects=0,
        successful_objects=0,
        skipped_objects=0,
        warning_objects=0,
        size_bytes=0.0,
    )
    # Names an API may well send: quotes, backslashes, newlines, non-ASCII.
    hostile = Job(
        job_type='Google "Workspace"',
        job_module="Drive\\Shared\nDrives 📁",
        job_id="j\\2",
        name="x",
        status="Failed",
        outcome=Outcome.FAILED,
        failed_objects=3,
    )
    return Snapshot(
        generation=generation,
        config=CFG,
        up=True,
        listing=Attempt(True, 1757562000.0),
        customers=(
            CustomerState(
                Customer("c-1", 'Contoso "Ltd"', "DE", "Working"),
                (full, never),
                Attempt(True, 1757562001.0),
                # A module no longer listed keeps its time in the refresher, but is not exported.
                {("Microsoft 365", "Exchange Online"): 1757561935.0, ("x", "gone"): 1.0},
                runs={
                    ("Microsoft 365", "Exchange Online"): Runs(1757300000.0, success=3, warning=1, failed=2),
                    ("Microsoft 365", "SharePoint Online"): Runs(1757300000.0),  # never ran: every outcome at 0
                    ("x", "gone"): Runs(1.0, success=9),  # not listed: not exported
                },
            ),
            CustomerState(
                Customer("c-2", "Fabrikam\nInc ✓", "", "N/A"),
                (hostile,),
                Attempt(False, None, Failure("HTTPStatusError", "HTTP 500")),
            ),
        ),
        refreshed=True,
        last_refresh_seconds=0.25,
    )


def snapshot_with_everything() -> Snapshot:
    """Every endpoint group on, a v3 customer with tenants, protected data, subscriptions and user seats."""
    base = snapshot()
    cfg = replace(CFG, endpoints=config.EndpointsConfig(jobs=True, protected=True, services=True, scan_profiles=True))
    customer = Customer(
        "c-3",
        "Woodgrove",
        "US",
        "Working",
        management_mode="Partner management of tenant",
        tenants=(Tenant("t-1", "wood.onmicrosoft.com"),),
    )
    protected = (
        ProtectedData("Microsoft 365", "Exchange Online", 1200, 1100, 5 * 2**30, None),
        ProtectedData("Microsoft 365", "SharePoint Online", None, 40, None, 2**40),
    )
    subscription = Subscription(
        "c-3",
        "Cloud Backup for Microsoft 365",
        subscription_name="CB-365 Standard",
        expiry=1767225600.0,
        purchased_seats=250,
        licenses_assigned=240,
        licenses_available=10,
        capacity_purchased_bytes=2**40,
        consumed_bytes=0.5 * 2**40,
    )
    profiles = (
        ScanProfile(
            "sp-1",
            "Default Microsoft 365 Scan Profile",
            "Failed",
            Outcome.FAILED,
            last_update=1757548764.0,
            modified=1757560754.0,
            new_objects=12,
            moved_objects=2,
            out_of_policy_objects=0,
        ),
        # A summary that sent N/A for every time and count: status and info only.
        ScanProfile("sp-2", 'Mail "VIP"', "Finished", Outcome.SUCCESS),
    )
    state = CustomerState(
        customer,
        base.customers[0].jobs[:1],
        Attempt(True, 1757562003.0),
        {},
        protected,
        Attempt(False, 1757500000.0, Failure("AuthError", "HTTP 403")),
        (subscription,),
        # A second tenant of another type whose API row lacked availableUserSeat.
        (
            TenantSeats("Microsoft 365", "t-1", "wood.onmicrosoft.com", assigned=240, available=10),
            TenantSeats("Google", "g-1", "", assigned=12),
        ),
        Attempt(True, 1757562004.0),
        scan_profiles=profiles,
        scan_profiles_attempt=Attempt(True, 1757562004.0),
    )
    return replace(base, config=cfg, customers=(*base.customers, state), services=Attempt(True, 1757562002.0))


@pytest.mark.parametrize(
    ("name", "make"), [("exposition.prom", snapshot), ("exposition-full.prom", snapshot_with_everything)]
)
def test_exposition_matches_golden_file(name: str, make: Callable[[], Snapshot]) -> None:
    body = encode(make()).decode()
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(body)
    assert body == golden.read_text(), "exposition changed: review, then rerun with UPDATE_GOLDEN=1"
    assert ExpositionCache().get(make()).body.decode() == body


def test_exposition_parses_and_leaves_out_missing_values() -> None:
    body = encode(snapshot()).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }
    names = {name for name, _ in samples}
    sharepoint = ("customer_id", "c-1"), ("job_module", "SharePoint Online"), ("job_type", "Microsoft 365")
    # Never-run module: counts are real zeros, times were N/A and are absent (not 0).
    assert samples[("avepoint_backup_job_objects", sharepoint)] == 0
    assert ("avepoint_backup_job_start_timestamp_seconds", sharepoint) not in samples
    assert ("avepoint_backup_job_duration_seconds", sharepoint) not in samples
    assert ("avepoint_backup_job_last_success_timestamp_seconds", sharepoint) not in samples
    hostile = [k for k in samples if k[0] == "avepoint_backup_job_status" and ("customer_id", "c-2") in k[1]]
    assert dict(hostile[0][1])["job_module"] == "Drive\\Shared\nDrives 📁"
    assert dict(hostile[0][1])["outcome"] == "failed"
    # A last success of a job the API no longer lists is not exported.
    assert not any(("job_module", "gone") in k[1] for k in samples)
    assert samples[("avepoint_backup_job_expected_interval_seconds", sharepoint)] == 86400
    ex = ("customer_id", "c-1"), ("job_module", "Exchange Online"), ("job_type", "Microsoft 365")
    assert samples[("avepoint_backup_job_expected_interval_seconds", ex)] == 3600
    assert samples[("avepoint_backup_job_size_bytes", ex)] == 1.5 * 2**30
    assert samples[("avepoint_refresh_success", (("customer_id", "c-2"), ("endpoint", "jobs")))] == 0
    assert (
        "avepoint_refresh_last_success_timestamp_seconds",
        (("customer_id", "c-2"), ("endpoint", "jobs")),
    ) not in samples
    assert {"avepoint_up", "avepoint_customer_info", "avepoint_customer_status", "avepoint_backup_job_info"} <= names


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is installed by tests/run")
def test_promtool_accepts_the_exposition() -> None:
    body = encode(snapshot_with_everything())
    result = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=60)
    # promtool lints too (exit 3 for lint problems only); the format itself must be clean.
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()


def test_exposition_cache_encodes_once_per_generation() -> None:
    cache = ExpositionCache()
    first = cache.get(snapshot(1))
    assert cache.get(snapshot(1)) is first
    second = cache.get(snapshot(2))
    assert second is not first
    assert second.body == encode(snapshot(2))
    # The pieced-together gzip stream is valid for every decoder, not only Python's gzip module.
    assert gzip.decompress(second.gzipped) == second.body
    assert zlib.decompress(second.gzipped, wbits=31) == second.body


def test_one_changed_customer_is_the_only_one_re_encoded() -> None:
    cache = ExpositionCache()
    snap = snapshot(1)
    cache.get(snap)
    assert cache.rebuilt_customers == 2
    changed = replace(snap.customers[1], jobs=(replace(snap.customers[1].jobs[0], failed_objects=99),))
    snap2 = replace(snap, generation=2, customers=(snap.customers[0], changed))
    exposition = cache.get(snap2)
    assert cache.rebuilt_customers == 1
    assert exposition.body == encode(snap2)
    assert b"} 99.0\n" in gzip.decompress(exposition.gzipped)
    # A customer that leaves is gone from the output and from the cache.
    snap3 = replace(snap2, generation=3, customers=(snap.customers[0],))
    assert b'customer_id="c-2"' not in cache.get(snap3).body


label_text = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    customer_id=label_text,
    job_type=label_text.filter(bool),
    module=label_text.filter(bool),
    status=label_text,
    value=st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=0, max_value=2**63),
)
def test_encoding_equals_prometheus_client(
    customer_id: str, job_type: str, module: str, status: str, value: float
) -> None:
    """prometheus_client is the oracle: our fast encoder must write what generate_latest writes."""
    job = Job(job_type, module, None, None, status, Outcome.UNKNOWN, objects=value)  # type: ignore[arg-type]
    ours = job_lines(customer_id, (job,), {}, config.JobsConfig())
    status_family = GaugeMetricFamily(
        Jobs.STATUS.name,
        Jobs.STATUS.help,
        labels=["customer_id", "job_type", "job_module", "status", "outcome"],
    )
    status_family.add_metric([customer_id, job_type, module, status, "unknown"], 1.0)
    objects_family = GaugeMetricFamily(
        "avepoint_backup_job_objects", Jobs.VALUES[0][0].help, labels=["customer_id", "job_type", "job_module"]
    )
    objects_family.add_metric([customer_id, job_type, module], float(value))
    for family, oracle in ((Jobs.STATUS, status_family), (Jobs.VALUES[0][0], objects_family)):
        expected = generate_latest(Families([oracle])).decode()
        assert header(family).decode() + ours[family] == expected
