"""Records to exposition text, byte for byte as prometheus_client writes it: pure fragments, and their join.

A fragment maps each family to its sample lines: one for the fleet-wide samples, two per customer (the
small families, and its jobs). The encoding follows prometheus_client's text format byte for byte (the
golden test compares them) and uses its float formatting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import cast

from prometheus_client import utils

from exporter import codes, safe
from exporter.config import EndpointsConfig, JobsConfig
from exporter.exposition.families import (
    FAMILIES,
    JOB_FAMILIES,
    Customers,
    Family,
    Jobs,
    Protected,
    Refresh,
    RunHistory,
    ScanProfiles,
    Seats,
    Staleness,
    Subscriptions,
)
from exporter.model import (
    FINISHED,
    GROUP_CUSTOMERS,
    GROUP_JOBS,
    GROUP_PROTECTED,
    GROUP_SCAN_PROFILES,
    GROUP_SEATS,
    GROUP_SERVICES,
    CustomerState,
    Job,
    ModuleKey,
    Runs,
    Snapshot,
)

# The classic text format; prometheus_client's own default header names a newer version that older
# Prometheus servers and tools do not all know.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# prometheus_client's own float formatting (Go's, as Prometheus parses it); it ships without annotations.
_go_float = cast(Callable[[float], str], utils.floatToGoString)
# OpenMetrics 1.0, for clients that ask for it (Prometheus does by default). Its sample lines are the
# classic ones (a gauge's samples carry the family's name, a counter's the family's name and `_total` in both
# formats), so only the headers differ and the end: `# EOF`, written after the exporter's own metrics.
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
EOF = b"# EOF\n"
# Base units a family name can end in; OpenMetrics requires a UNIT's family name to end with `_<unit>`.
UNITS = ("seconds", "bytes")


def header(family: Family) -> bytes:
    doc = family.help.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {family.name} {doc}\n# TYPE {family.name} {family.type}\n".encode()


def unit(family: Family) -> str | None:
    """The family's unit for OpenMetrics' `# UNIT` line: the base unit its name ends in, if any."""
    return next((u for u in UNITS if family.name.endswith("_" + u)), None)


def openmetrics_header(family: Family) -> bytes:
    """HELP, TYPE and UNIT in OpenMetrics 1.0, which escapes `"` in HELP too (the classic format does not)."""
    doc, name = _escape(family.help), family.openmetrics_name
    lines = f"# HELP {name} {doc}\n# TYPE {name} {family.type}\n"
    if (u := unit(family)) is not None:
        lines += f"# UNIT {name} {u}\n"
    return lines.encode()


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    # Sorted by name, as prometheus_client writes them.
    return ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(pairs))


def _line(name: str, labels: str, value: float) -> str:
    return f"{name}{{{labels}}} {_go_float(value)}\n" if labels else f"{name} {_go_float(value)}\n"


def customer_lines(cs: CustomerState, endpoints: EndpointsConfig) -> dict[Family, str]:
    """The small per-customer families: refresh state, info, status, tenants, protected data, scan profiles,
    subscriptions, seats."""
    customer = cs.customer
    cid = customer.id
    parts: dict[Family, list[str]] = {}

    def add(family: Family, labels: list[tuple[str, str]], value: float) -> None:
        parts.setdefault(family, []).append(_line(family.name, _labels(labels), value))

    for endpoint, enabled, attempt in (
        (GROUP_JOBS, endpoints.jobs, cs.attempt),
        (GROUP_PROTECTED, endpoints.protected, cs.protected_attempt),
        (GROUP_SCAN_PROFILES, endpoints.scan_profiles, cs.scan_profiles_attempt),
        # Asked only under v3 (seats_attempt stays None under legacy, which has no seats route).
        (GROUP_SEATS, endpoints.services and cs.seats_attempt is not None, cs.seats_attempt),
    ):
        if enabled and attempt is not None:
            add(Refresh.SUCCESS, [("customer_id", cid), ("endpoint", endpoint)], float(attempt.success))
            if attempt.last_success is not None:
                add(Refresh.LAST_SUCCESS, [("customer_id", cid), ("endpoint", endpoint)], attempt.last_success)
    info = [("country", customer.country), ("customer_id", cid), ("organization", customer.organization)]
    if customer.management_mode:
        info.append(("management_mode", customer.management_mode))
    add(Customers.INFO, info, 1.0)
    for tenant in customer.tenants:
        add(Customers.TENANT_INFO, [("customer_id", cid), ("tenant_id", tenant.id), ("tenant_name", tenant.name)], 1.0)
    add(Customers.STATUS, [("customer_id", cid), ("status", customer.status)], 1.0)
    for item in cs.protected:
        labels = [("customer_id", cid), ("module", item.module), ("service", item.service)]
        if item.scanned_objects is not None:
            add(Protected.SCANNED, labels, item.scanned_objects)
        if item.protected_objects is not None:
            add(Protected.OBJECTS, labels, item.protected_objects)
        for storage, size in (("avepoint", item.bytes_avepoint), ("byos", item.bytes_byos)):
            if size is not None:
                add(Protected.BYTES, [*labels, ("storage", storage)], size)
    for profile in cs.scan_profiles:
        labels = [("customer_id", cid), ("profile_id", profile.profile_id)]
        add(ScanProfiles.INFO, [*labels, ("profile_name", profile.name)], 1.0)
        add(ScanProfiles.STATUS, [*labels, ("outcome", profile.outcome.value), ("status", profile.status)], 1.0)
        for family, attr in ScanProfiles.VALUES:
            value = getattr(profile, attr)
            if value is not None:
                add(family, labels, float(value))
    for sub in cs.subscriptions:
        labels = [("customer_id", cid), ("service", sub.service), ("subscription", sub.subscription_name)]
        for family, attr in Subscriptions.VALUES:
            value = getattr(sub, attr)
            if value is not None:
                add(family, labels, float(value))
    for seats in cs.seats if endpoints.services else ():
        labels = [
            ("customer_id", cid),
            ("tenant_id", seats.tenant_id),
            ("tenant_name", seats.tenant_name),
            ("tenant_type", seats.tenant_type),
        ]
        if seats.assigned is not None:
            add(Seats.ASSIGNED, labels, seats.assigned)
        if seats.available is not None:
            add(Seats.AVAILABLE, labels, seats.available)
    return {family: "".join(lines) for family, lines in parts.items()}


def job_lines(
    customer_id: str,
    jobs: tuple[Job, ...],
    last_success: Mapping[ModuleKey, float],
    jobs_cfg: JobsConfig,
    runs: Mapping[ModuleKey, Runs] | None = None,
) -> dict[Family, str]:
    """The job families of one customer, the run counts included. Pure: the same inputs give the same text."""
    runs = runs or {}
    parts: dict[Family, list[str]] = {family: [] for family in JOB_FAMILIES}
    for job in jobs:
        base = [("customer_id", customer_id), ("job_module", job.job_module), ("job_type", job.job_type)]
        labels = _labels(base)
        parts[Jobs.STATUS].append(
            _line(Jobs.STATUS.name, _labels([*base, ("outcome", job.outcome.value), ("status", job.status)]), 1.0)
        )
        parts[Jobs.INFO].append(
            _line(Jobs.INFO.name, _labels([*base, ("job_id", job.job_id or ""), ("job_name", job.name or "")]), 1.0)
        )
        kind = codes.job_kind(job.job_type, job.job_module)
        parts[Jobs.KIND].append(_line(Jobs.KIND.name, _labels([*base, ("kind", kind)]), 1.0))
        for family, attr in Jobs.VALUES:
            value = getattr(job, attr)
            if value is not None:
                parts[family].append(_line(family.name, labels, float(value)))
        seen = last_success.get(job.key)
        if seen is not None:
            parts[Staleness.LAST_SUCCESS].append(_line(Staleness.LAST_SUCCESS.name, labels, seen))
        interval = jobs_cfg.expected_interval_for(customer_id, job.job_type, job.job_module)
        parts[Staleness.EXPECTED].append(_line(Staleness.EXPECTED.name, labels, interval))
        counts = runs.get(job.key)
        if counts is not None:
            for outcome, count in zip(FINISHED, counts[1:], strict=True):
                outcome_labels = _labels([*base, ("outcome", outcome.value)])
                parts[RunHistory.RUNS].append(_line(RunHistory.RUNS.name, outcome_labels, float(count)))
            parts[RunHistory.SEEN_SINCE].append(_line(RunHistory.SEEN_SINCE.name, labels, counts.since))
    return {family: "".join(lines) for family, lines in parts.items() if lines}


def global_lines(snap: Snapshot) -> dict[Family, str]:
    """The samples that belong to no customer: up, refresh duration, the listing's refresh state."""
    fleet_calls = [(GROUP_CUSTOMERS, snap.listing)]
    if snap.config.endpoints.services:
        fleet_calls.append((GROUP_SERVICES, snap.services))
    ok, times = [], []
    for endpoint, attempt in fleet_calls:
        labels = _labels([("customer_id", ""), ("endpoint", endpoint)])
        ok.append(_line(Refresh.SUCCESS.name, labels, float(attempt.success)))
        if attempt.last_success is not None:
            times.append(_line(Refresh.LAST_SUCCESS.name, labels, attempt.last_success))
    out = {Refresh.UP: _line(Refresh.UP.name, "", 1.0 if snap.up else 0.0), Refresh.SUCCESS: "".join(ok)}
    if snap.last_refresh_seconds is not None:
        out[Refresh.DURATION] = _line(Refresh.DURATION.name, "", snap.last_refresh_seconds)
    if times:
        out[Refresh.LAST_SUCCESS] = "".join(times)
    return out


def encode(snap: Snapshot, openmetrics: bool = False) -> bytes:
    """The whole exposition of a snapshot, uncached (reference path; ExpositionCache is the fast one).

    In OpenMetrics without `# EOF`: the exporter's own metrics follow, and the end with them.
    """
    fragments = [global_lines(snap)]
    for cs in snap.customers:
        fragments.append(customer_lines(cs, snap.config.endpoints))
        fragments.append(job_lines(cs.customer.id, cs.jobs, cs.last_success, snap.config.jobs, cs.runs))
    return _join(fragments, openmetrics)


def customer_exposition(snap: Snapshot, customer_id: str, openmetrics: bool = False) -> bytes | None:
    """One customer's families and avepoint_up (the /probe answer); None if the customer is not exported.

    In OpenMetrics complete, `# EOF` included: /probe serves no other metrics.
    """
    cs = next((c for c in snap.customers if c.customer.id == customer_id), None)
    if cs is None:
        return None
    fragments = [
        {Refresh.UP: _line(Refresh.UP.name, "", 1.0 if snap.up else 0.0)},
        customer_lines(cs, snap.config.endpoints),
        job_lines(customer_id, cs.jobs, cs.last_success, snap.config.jobs, cs.runs),
    ]
    return _join(fragments, openmetrics) + (EOF if openmetrics else b"")


def _join(fragments: list[dict[Family, str]], openmetrics: bool = False) -> bytes:
    head = openmetrics_header if openmetrics else header
    out = []
    for family in FAMILIES:
        samples = "".join(f.get(family, "") for f in fragments)
        if samples:  # a family without samples (an endpoint switched off) is left out, header and all
            out.append(head(family) + safe.encode(samples))
    return b"".join(out)
