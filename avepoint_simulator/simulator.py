"""A fake AvePoint partner API (legacy and Elements v3) on loopback: synthetic fleet, token endpoint, faults."""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import hmac
import html
import json
import math
import random
import secrets
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Final, NamedTuple
from urllib.parse import parse_qs, unquote, unquote_plus, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from exporter import codes

__all__ = [
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "ELEMENTS_SCOPES",
    "JOB_CATALOG",
    "JOB_FIELDS",
    "MISSING",
    "PARTNER_SCOPES",
    "ROUTE_CUSTOMER",
    "ROUTE_CUSTOMERS",
    "ROUTE_JOBS",
    "ROUTE_JOBS_BY_MODULE",
    "ROUTE_PROTECTED",
    "ROUTE_SERVICES",
    "ROUTE_TOKEN",
    "ROUTE_UNKNOWN",
    "ROUTE_V3_CUSTOMERS",
    "ROUTE_V3_JOBS",
    "ROUTE_V3_PROTECTED",
    "ROUTE_V3_SERVICES",
    "V3_MAX_PAGE_SIZE",
    "V3_NEVER_RUN_STATUS",
    "Faults",
    "FleetSpec",
    "Simulator",
    "main",
]

DEMO_CLIENT_ID: Final = "demo"
# Not a secret: only the simulator accepts it. (S105 is off in some lint runs, hence RUF100.)
DEMO_CLIENT_SECRET: Final = "demo-secret"  # noqa: S105, RUF100

PARTNER_SCOPES: Final = (
    "partner.customers.read.all",
    "partner.jobs.read.all",
    "partner.cbprotected.read.all",
    "partner.license.read.all",
)
# One app registration can hold both families; anything else is refused like IdentityServer
# refuses a scope the client was not granted.
ELEMENTS_SCOPES: Final = (
    "elements.customers.read.all",
    "elements.jobs.read.all",
    "elements.cbprotected.read.all",
    "elements.license.read.all",
)
_KNOWN_SCOPES: Final = frozenset(PARTNER_SCOPES + ELEMENTS_SCOPES)
_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Clocks of client and server never agree exactly; IdentityServer allows a few minutes.
_ASSERTION_LEEWAY: Final = 30.0

ROUTE_TOKEN: Final = "/connect/token"  # noqa: S105, RUF100 - a route, not a password
ROUTE_CUSTOMERS: Final = "/partner/customers"
ROUTE_CUSTOMER: Final = "/partner/customers/{id}"
ROUTE_JOBS: Final = "/partner/customers/{id}/jobs"
ROUTE_JOBS_BY_MODULE: Final = "/partner/customers/{id}/jobs/jobType/{jobType}/jobModule/{jobModule}"
ROUTE_PROTECTED: Final = "/partner/customers/{id}/protected"
ROUTE_SERVICES: Final = "/partner/services"
ROUTE_UNKNOWN: Final = "unknown"
_V3: Final = "/partner/external/v3/general"
ROUTE_V3_CUSTOMERS: Final = f"{_V3}/customers/batch"
ROUTE_V3_JOBS: Final = f"{_V3}/customers/{{customerId}}/avpt-products/jobs/batch"
ROUTE_V3_SERVICES: Final = f"{_V3}/customers/services/batch"
ROUTE_V3_PROTECTED: Final = f"{_V3}/customers/{{customerId}}/cloud-backup-m365/overview"

_ROUTE_SCOPE: Final = {
    ROUTE_CUSTOMERS: "partner.customers.read.all",
    ROUTE_CUSTOMER: "partner.customers.read.all",
    ROUTE_JOBS: "partner.jobs.read.all",
    ROUTE_JOBS_BY_MODULE: "partner.jobs.read.all",
    ROUTE_PROTECTED: "partner.cbprotected.read.all",
    ROUTE_SERVICES: "partner.license.read.all",
    ROUTE_V3_CUSTOMERS: "elements.customers.read.all",
    ROUTE_V3_JOBS: "elements.jobs.read.all",
    ROUTE_V3_SERVICES: "elements.license.read.all",
    ROUTE_V3_PROTECTED: "elements.cbprotected.read.all",
}
# The legacy family reads with GET; v3 reads with POST "batch" routes, except the overview.
_ROUTE_METHOD: Final = {
    **dict.fromkeys(
        (ROUTE_CUSTOMERS, ROUTE_CUSTOMER, ROUTE_JOBS, ROUTE_JOBS_BY_MODULE, ROUTE_PROTECTED, ROUTE_SERVICES), "GET"
    ),
    ROUTE_V3_CUSTOMERS: "POST",
    ROUTE_V3_JOBS: "POST",
    ROUTE_V3_SERVICES: "POST",
    ROUTE_V3_PROTECTED: "GET",
}
V3_DEFAULT_PAGE_SIZE: Final = 50
V3_MAX_PAGE_SIZE: Final = 100
# The documented legacy row of a module that never ran says "Not Finished", a status the v3
# table lacks; v3 sends 0 ("None") for it, the value a .NET enum has when nothing set it.
# Both give the outcome not_run: this is the one field where the two backends differ.
V3_NEVER_RUN_STATUS: Final = 0

JOB_FIELDS: Final = (
    "jobType",
    "jobModule",
    "status",
    "jobId",
    "name",
    "totalCount",
    "failedCount",
    "successfulCount",
    "skippedCount",
    "warningCount",
    "backupSize",
    "startTime",
    "endTime",
    "lastModifyTime",
    "jobDuration",
)


class _Missing:
    """Type of MISSING: `pin(..., field=MISSING)` drops the key from the row."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

_KIB: Final = 1024
_MIB: Final = 1024**2
_GIB: Final = 1024**3
_DAY: Final = 86400.0
# Sizes and object counts grow from this date on, so a fleet looks older the later the clock.
_GROWTH_EPOCH: Final = 1704067200.0  # 2024-01-01T00:00:00Z
_GROWTH_PER_DAY: Final = 0.002


class _Kind(NamedTuple):
    job_type: str
    job_module: str
    size_gib: tuple[float, float]  # log-uniform range of one customer's full backup
    objects: tuple[int, int]
    minutes: tuple[float, float]
    # The name the module's draws are keyed by, where it differs: modules took their v3 spelling
    # later, and keeping the old key keeps every fleet's numbers as they were.
    seed_name: str = ""


_M365: Final = "Microsoft 365"
_GOOGLE: Final = "Google Workspace"
# Older documents say `Azure`; the current product name is used, the exporter keeps it verbatim.
_IAAS: Final = "IaaS + PaaS"
_DYNAMICS: Final = "Dynamics 365"
_SALESFORCE: Final = "Salesforce"

# Module names are those of the v3 code table, so that both backends serve the same rows.
# Salesforce has a job type (15) but no module in that table: its module gets the undocumented
# code 601, named by its number on both backends (as the exporter names unknown v3 codes), so
# every fleet with a Salesforce customer exercises the path of a code the tables lack.
_SALESFORCE_MODULE: Final = "601"

JOB_CATALOG: Final[tuple[_Kind, ...]] = (
    _Kind(_M365, "SharePoint Online", (5, 500), (2_000, 400_000), (20, 150)),
    _Kind(_M365, "Exchange Online", (10, 800), (5_000, 2_000_000), (30, 180)),
    _Kind(_M365, "OneDrive", (5, 1000), (2_000, 800_000), (20, 160), "OneDrive for Business"),
    _Kind(_M365, "Microsoft 365 Groups", (1, 200), (500, 100_000), (10, 90), "Microsoft 365 Group"),
    _Kind(_M365, "Microsoft Teams", (1, 100), (200, 80_000), (10, 90)),
    _Kind(_M365, "Project Online", (0.1, 5), (20, 5_000), (3, 20)),
    _Kind(_M365, "Exchange Online Public Folder", (0.5, 50), (100, 50_000), (5, 40)),
    _Kind(_M365, "Power BI", (0.05, 5), (10, 2_000), (2, 15)),
    _Kind(_M365, "Teams Chat", (0.5, 50), (1_000, 500_000), (10, 60)),
    _Kind(_M365, "Power Automate", (0.01, 0.5), (5, 1_000), (1, 10)),
    _Kind(_M365, "Power Apps", (0.01, 0.5), (5, 500), (1, 10)),
    _Kind(_GOOGLE, "Gmail", (10, 500), (5_000, 2_000_000), (30, 180)),
    _Kind(_GOOGLE, "Drive", (10, 800), (2_000, 800_000), (20, 160)),
    _Kind(_GOOGLE, "Shared Drives", (1, 200), (500, 200_000), (10, 90)),
    _Kind(_GOOGLE, "Calendar", (0.1, 5), (500, 100_000), (3, 20)),
    _Kind(_GOOGLE, "Contacts", (0.01, 0.5), (100, 20_000), (1, 10)),
    _Kind(_IAAS, "Azure Virtual Machine", (50, 2000), (1, 60), (30, 240), "Virtual Machine"),
    _Kind(_IAAS, "Storage", (10, 1000), (1_000, 5_000_000), (20, 180)),
    _Kind(_IAAS, "Microsoft Entra ID", (0.01, 1), (100, 50_000), (2, 20)),
    _Kind(_IAAS, "Azure SQL Backup", (5, 300), (1, 40), (10, 90)),
    _Kind(_DYNAMICS, "Dynamics CRM Backup", (1, 100), (1_000, 900_000), (10, 90), "Dynamics Customer Engagement"),
    _Kind(_SALESFORCE, _SALESFORCE_MODULE, (0.5, 50), (1_000, 900_000), (10, 90), "Salesforce"),
)

# The legacy routes spell some types and modules their own way. AvePoint/elements-samples
# powershell/docs/ElementsCustomersApi.md (Get-ElementsCustomerJob, "Supported job module values")
# lists the legacy names; the v3 names are those of AvePoint/cloud-api
# docs/elements/general/job/get-customer-jobs.md. Kept here, not taken from the exporter, so that
# a test of the exporter's mapping does not check the table against itself.
_LEGACY_TYPE: Final = {_IAAS: "Azure"}
_LEGACY_MODULE: Final = {
    "OneDrive": "OneDrive for Business",
    "Microsoft 365 Groups": "Microsoft 365 Group",
    "Exchange Online Public Folder": "Exchange Online Public Folders",
    "Teams Chat": "Microsoft Teams Chat",
    "Azure Virtual Machine": "Virtual Machine",
    "Microsoft Entra ID": "Active Directory",
    "Dynamics CRM Backup": "Dynamics Customer Engagement",
    _SALESFORCE_MODULE: "Salesforce",
}

_INTERNAL_TYPE: Final = {legacy: name for name, legacy in _LEGACY_TYPE.items()}
_INTERNAL_MODULE: Final = {legacy: name for name, legacy in _LEGACY_MODULE.items()}


def _internal(job_type: str, job_module: str) -> tuple[str, str]:
    """The catalog's (v3) names of a job given in either spelling: pins and windows take both."""
    return _INTERNAL_TYPE.get(job_type, job_type), _INTERNAL_MODULE.get(job_module, job_module)


# How the IaaS + PaaS modules are subscribed; "Unit" (a unit-based subscription) stands for Entra ID.
_IAAS_SERVICES: Final = {
    "Storage": "Azure Storage",
    "Azure Virtual Machine": "Virtual Machine",
    "Azure SQL Backup": "Azure SQL",
    "Microsoft Entra ID": "Unit",
}
_RETENTIONS: Final = (
    "Retain data for 1 month",
    "Retain data for 1 months",
    "Retain data for 1 years",
    "Retain data for 3 years",
    "Retain data for 7 years",
)

_M365_CORE: Final = tuple(range(5))
_M365_EXTRA: Final = tuple(range(5, 11))
_GOOGLE_ALL: Final = tuple(range(11, 16))
_IAAS_ALL: Final = tuple(range(16, 20))
_DYNAMICS_INDEX: Final = 20
_SALESFORCE_INDEX: Final = 21

_SERVICE_NAMES: Final = {
    _M365: "Cloud Backup for Microsoft 365",
    _GOOGLE: "Cloud Backup for Google Workspace",
    _IAAS: "Cloud Backup for IaaS + PaaS",
    _DYNAMICS: "Cloud Backup for Dynamics 365",
    _SALESFORCE: "Cloud Backup for Salesforce",
}

# Microsoft's fictional companies, so no real organisation appears in a demo; one has an
# apostrophe and one non-ASCII letters and an ampersand, which label escaping must survive.
_ORG_NAMES: Final = (
    "Contoso",
    "Fabrikam",
    "Northwind Traders",
    "Adventure Works",
    "Tailspin Toys",
    "Wide World Importers",
    "Woodgrove Bank",
    "Litware",
    "Proseware",
    "Alpine Ski House",
    "Coho Winery",
    "Lucerne Publishing",
    "Margie's Travel",
    "Trey Research",
    "Wingtip Toys",
    "Fourth Coffee",
    "Blue Yonder Airlines",
    "Humongous Insurance",
    "Relecloud",
    "Café Tailspin & Co",
)
_ORG_SUFFIXES: Final = ("Ltd", "Inc", "GmbH", "AG", "SA", "BV", "Pty Ltd", "LLC")
_COUNTRIES: Final = (
    ("United States", 30),
    ("United Kingdom", 12),
    ("Germany", 10),
    ("Australia", 8),
    ("Canada", 7),
    ("France", 6),
    ("Japan", 6),
    ("Netherlands", 5),
    ("Singapore", 4),
    ("Switzerland", 4),
    ("South Africa", 3),
    ("Brazil", 3),
)
_CUSTOMER_STATUSES: Final = (
    ("Working", 80),
    ("N/A", 10),
    ("Finished with exception", 3),
    ("Failed", 2),
    ("Waiting for configuration", 2),
    ("Multiple issues found", 2),
    ("No backup updates", 1),
)

# Cumulative thresholds for the outcome of one run.
_OUTCOMES: Final = (
    (0.85, "Finished"),
    (0.92, "Finished with exception"),
    (0.97, "Failed"),
    (0.985, "Canceled"),
    (0.995, "Failed to start"),
    (1.0, "Skipped"),
)


@dataclass(frozen=True, slots=True)
class FleetSpec:
    """What fleet to synthesise: everything else follows from the seed and the clock."""

    customers: int = 12
    seed: int = 1
    jobs_per_customer: int | None = None

    def __post_init__(self) -> None:
        if self.customers < 0:
            raise ValueError(f"customers must be >= 0, got {self.customers}")
        jobs = self.jobs_per_customer
        if jobs is not None and not 0 <= jobs <= len(JOB_CATALOG):
            # More would repeat a (job type, module) pair, which the API never does.
            raise ValueError(f"jobs_per_customer must be between 0 and {len(JOB_CATALOG)}, got {jobs}")


@dataclass
class Faults:
    """Switches read once per request, so tests and benchmarks may flip them while serving."""

    latency: float = 0.0  # seconds added to every data request
    token_latency: float = 0.0  # seconds added to every token request
    error_rate: float = 0.0  # share of data requests that fail at random
    timeout_sleep: float = 30.0  # how long a random "timeout" sleeps before answering
    status_override: int | None = None  # every data request answers this status
    html_errors: bool = False  # error bodies are a proxy's HTML page
    html_ok: bool = False  # 200 bodies of data routes are an HTML page
    truncated: bool = False  # 200 bodies of data routes are cut in half
    rate_limit_burst: int | None = None  # data requests allowed per second, then 429
    retry_after: int | None = None  # Retry-After seconds on 429 (burst, override) and 503
    token_ttl: int = 3600  # expires_in of new tokens; they really expire then
    token_status: int | None = None  # the token endpoint answers this status
    failing_customers: set[str] = field(default_factory=set)  # their routes answer 500
    forbidden_customers: set[str] = field(default_factory=set)  # their routes answer 403
    v3_total_count_offset: int = 0  # v3 metadata.totalCount claims this many more rows than exist
    v3_stuck_page_index: bool = False  # v3 paging ignores pageIndex: page 1, forever
    v3_page_cap: int | None = None  # v3 pages hold at most this many rows, whatever pageSize asks


@dataclass(frozen=True, slots=True)
class _Module:
    """The static part of one customer's job row; the time-dependent part is computed per request."""

    job_type: str
    job_module: str
    key: bytes  # hashed with the run number to draw that run's outcome
    never_run: bool
    phase: float  # fraction of the period at which runs start
    base_bytes: float
    base_objects: int
    base_seconds: float
    scan_factor: float  # protected data: objects scanned per object backed up
    protected_share: float
    stored_factor: float  # versions kept in storage per byte backed up


@dataclass(frozen=True, slots=True)
class _Product:
    service: str
    model: str
    seats: int
    units: int
    assigned: int
    capacity_gib: int
    storage: str
    retention: str
    source: str
    payment: str
    package: str
    anchor_day: int  # the subscription renews every 365 days from this day after the epoch
    lapsed: bool
    contract: bool = False  # has a contract end date (the expiry)
    modules: tuple[str, ...] = ()  # the modules it covers, where not every module of its job type


@dataclass(frozen=True, slots=True)
class _Customer:
    id: str
    record: dict[str, str]
    email: str
    modules: tuple[_Module, ...]
    byos: bool
    tenant_ids: tuple[str, ...]
    products: tuple[_Product, ...]
    # v3 only; drawn from a hash, not the fleet's rng, so the legacy fleet stays as it was.
    management_mode: int = 1
    tenant_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _dumps(value: object) -> bytes:
    return _encode_json(value).encode("utf-8")


def _uniforms(data: bytes) -> tuple[tuple[float, ...], bytes]:
    """Six uniform draws in [0, 1) and 16 spare bytes, a pure function of `data`.

    A hash instead of random.Random: it is several times cheaper per row, and rows are
    computed on every request.
    """
    digest = hashlib.blake2b(data, digest_size=64).digest()
    draws = tuple(n / 18446744073709551616.0 for n in struct.unpack(">6Q", digest[:48]))
    return draws, digest[48:]


def _log_uniform(low: float, high: float, u: float) -> float:
    return float(low * (high / low) ** u)


def _weighted(rng: random.Random, table: Iterable[tuple[str, int]]) -> str:
    names, weights = zip(*table, strict=True)
    return str(rng.choices(names, weights=weights)[0])


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _date(seconds: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(seconds))


def format_size(n_bytes: float) -> str:
    """The API's size spelling: `12.5 GB`, `512 MB`, `0 GB` (binary multiples)."""
    if n_bytes <= 0:
        return "0 GB"
    if n_bytes >= _GIB:
        text = f"{n_bytes / _GIB:.2f}".rstrip("0").rstrip(".")
        return f"{text} GB"
    if n_bytes >= _MIB:
        return f"{round(n_bytes / _MIB)} MB"
    return f"{max(1, round(n_bytes / _KIB))} KB"


def format_duration(seconds: int) -> str:
    """The API's duration spelling: `45s`, `17m39s`, `1h2m3s`, `1d2h3m4s`."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h{minutes}m{secs}s"
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _growth(at: float) -> float:
    return max(0.1, 1.0 + _GROWTH_PER_DAY * (at - _GROWTH_EPOCH) / _DAY)


def _pick_modules(rng: random.Random, spec: FleetSpec) -> list[int]:
    if spec.jobs_per_customer is not None:
        # A rotating window over the catalog: every count up to its length is possible and
        # the fleet still covers every module.
        offset = rng.randrange(len(JOB_CATALOG))
        count = spec.jobs_per_customer
        return sorted((offset + i) % len(JOB_CATALOG) for i in range(count))
    profile = rng.random()
    picked: list[int] = []
    if profile < 0.70:  # the typical MSP customer: Microsoft 365, maybe something beside it
        count = rng.randint(4, 8)
        picked += rng.sample(_M365_CORE, min(count, len(_M365_CORE)))
        picked += rng.sample(_M365_EXTRA, max(0, count - len(_M365_CORE)))
        if rng.random() < 0.25:
            picked += rng.sample(_IAAS_ALL, rng.randint(1, len(_IAAS_ALL)))
        if rng.random() < 0.10:
            picked.append(_DYNAMICS_INDEX)
        if rng.random() < 0.08:
            picked.append(_SALESFORCE_INDEX)
    elif profile < 0.85:
        picked += rng.sample(_GOOGLE_ALL, rng.randint(3, len(_GOOGLE_ALL)))
        if rng.random() < 0.30:
            picked += rng.sample(_M365_CORE, rng.randint(2, 3))
    elif profile < 0.95:
        picked += rng.sample(_IAAS_ALL, rng.randint(2, len(_IAAS_ALL)))
    else:
        picked += [_DYNAMICS_INDEX, _SALESFORCE_INDEX][: rng.randint(1, 2)]
        picked += rng.sample(_M365_CORE, 2)
    return sorted(set(picked))


def _build_module(seed: int, customer_id: str, kind: _Kind) -> _Module:
    key = f"{seed}|{customer_id}|{kind.job_type}|{kind.seed_name or kind.job_module}".encode()
    (u_never, u_phase, u_size, u_objects, u_minutes, _), spare = _uniforms(key)
    u_scan, u_share, u_stored = (b / 256 for b in spare[:3])
    return _Module(
        job_type=kind.job_type,
        job_module=kind.job_module,
        key=key,
        never_run=u_never < 0.06,
        phase=u_phase,
        base_bytes=_log_uniform(*kind.size_gib, u_size) * _GIB,
        base_objects=max(1, round(_log_uniform(*kind.objects, u_objects))),
        base_seconds=_log_uniform(*kind.minutes, u_minutes) * 60.0,
        scan_factor=1.02 + 0.3 * u_scan,
        protected_share=0.85 + 0.15 * u_share,
        stored_factor=1.2 + 1.8 * u_stored,
    )


def _build_products(rng: random.Random, modules: tuple[_Module, ...], byos: bool) -> tuple[_Product, ...]:
    """One subscription per service, spelled as the services samples spell them.

    AvePoint/cloud-api docs/docs/services-and-features/elements/services/service-subscription*.md and
    docs/elements/general/service subscription/get-all-services.md: storage "AvePoint storage",
    "AvePoint storage (Microsoft Azure Blob)" or "Bring your own storage"; retention "Retain data for
    1 month" (and the samples' "1 months", "1 years"); source "AvePoint subscription" or "AvePoint pooled
    subscription"; payment "Prepaid"; IaaS + PaaS subscribed per resource ("... - Azure Storage").
    `subscriptionName` is for Fly and `package` for Cloud Backup for Microsoft 365 only: "N/A" elsewhere.
    """
    products: list[_Product] = []
    services: list[tuple[str, str, tuple[str, ...]]] = []
    for job_type in dict.fromkeys(m.job_type for m in modules):
        if job_type == _IAAS:
            for module in (m.job_module for m in modules if m.job_type == _IAAS):
                services.append((job_type, f"{_SERVICE_NAMES[_IAAS]} - {_IAAS_SERVICES[module]}", (module,)))
        else:
            services.append((job_type, _SERVICE_NAMES[job_type], ()))
    for job_type, service, covered in services:
        per_user = job_type in (_M365, _GOOGLE) and rng.random() < 0.7
        seats = rng.choice((25, 50, 100, 250, 500, 1000, 2500))
        products.append(
            _Product(
                service=service,
                model="User-based" if per_user else "Capacity-based",
                seats=seats if per_user else 0,
                units=rng.randint(1, 40) if job_type == _IAAS else 0,
                assigned=int(seats * (0.6 + 0.45 * rng.random())) if job_type == _M365 else 0,
                capacity_gib=0 if per_user else rng.choice((500, 1024, 2048, 5120, 10240)),
                storage="Bring your own storage"
                if byos
                else rng.choice(("AvePoint storage", "AvePoint storage (Microsoft Azure Blob)")),
                retention=rng.choice(_RETENTIONS),
                source=rng.choice(("AvePoint subscription", "AvePoint subscription", "AvePoint pooled subscription")),
                payment="Prepaid",
                package=rng.choice(("Standard", "Enterprise", "N/A")) if job_type == _M365 else "N/A",
                anchor_day=rng.randrange(365),
                lapsed=rng.random() < 0.07,
                contract=rng.random() < 0.6,
                modules=covered,
            )
        )
    return tuple(products)


def _build_fleet(spec: FleetSpec) -> list[_Customer]:
    customers: list[_Customer] = []
    for index in range(spec.customers):
        rng = random.Random(f"avepoint-simulator|{spec.seed}|{index}")
        customer_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        base_name = _ORG_NAMES[index % len(_ORG_NAMES)]
        organization = f"{base_name} {rng.choice(_ORG_SUFFIXES)} {index + 1:03d}"
        slug = "".join(c for c in base_name.lower() if c.isascii() and c.isalnum())
        email = f"it-admin@{slug}{index + 1:03d}.example"
        modules = tuple(_build_module(spec.seed, customer_id, JOB_CATALOG[i]) for i in _pick_modules(rng, spec))
        tenants = tuple(
            str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(1 if rng.random() < 0.85 else 2)
        )
        record = {
            "id": customer_id,
            "organization": organization,
            "ownerEmail": email,
            "jobStatus": _weighted(rng, _CUSTOMER_STATUSES),
            "countryOrRegion": _weighted(rng, _COUNTRIES),
        }
        byos = rng.random() < 0.2
        (u_mode, *_), _ = _uniforms(f"{spec.seed}|{customer_id}|v3".encode())
        customers.append(
            _Customer(
                id=customer_id,
                record=record,
                email=email,
                modules=modules,
                byos=byos,
                tenant_ids=tenants,
                products=_build_products(rng, modules, byos),
                management_mode=1 if u_mode < 0.8 else 0 if u_mode < 0.95 else 2,
                tenant_names=tuple(
                    f"{slug}{index + 1:03d}{'' if n == 0 else f'-{n + 1}'}.onmicrosoft.com" for n in range(len(tenants))
                ),
            )
        )
    return customers


def _never_run_row(job_type: str, job_module: str) -> dict[str, object]:
    """The documented row of a module that has no job yet."""
    return {
        "jobType": job_type,
        "jobModule": job_module,
        "status": "Not Finished",
        "jobId": "N/A",
        "name": "N/A",
        "totalCount": "0",
        "failedCount": "0",
        "successfulCount": "0",
        "skippedCount": "0",
        "warningCount": "0",
        "backupSize": "0 GB",
        "startTime": "N/A",
        "endTime": "N/A",
        "lastModifyTime": "N/A",
        "jobDuration": "N/A",
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Simulator, family: int) -> None:
        self.address_family = family
        self.sim = sim
        self.conn_lock = threading.Lock()
        # Handler threads by their socket: stop() shuts the sockets down to wake threads that
        # wait for the next request on a kept-alive connection, then joins the threads.
        self.active: dict[socket.socket, threading.Thread] = {}
        self.connections_accepted = 0
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall for
        # seconds on machines without DNS; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.socket.getsockname()[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"avepoint-sim-{self.server_port}-conn",
            daemon=True,
        )
        if isinstance(request, socket.socket):
            with self.conn_lock:
                self.active[request] = thread
                self.connections_accepted += 1
        thread.start()

    def process_request_thread(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            if isinstance(request, socket.socket):
                with self.conn_lock:
                    self.active.pop(request, None)

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        # Clients that gave up (a timeout fault, a benchmark cut short) hang up mid-answer.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for the client's pooled session
    server_version = "avepoint-simulator"
    # Headers and body are two writes; without this, Nagle plus delayed ACKs add ~40 ms.
    disable_nagle_algorithm = True
    timeout = 120  # an abandoned keep-alive connection frees its thread eventually
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def version_string(self) -> str:
        return "avepoint-simulator"

    def log_message(self, fmt: str, *args: Any) -> None:
        # The request log lives in Simulator.request_log; stderr stays quiet for the demo.
        return

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Malformed requests: answer in the same JSON shape, with a request id, like any other.
        sim = self.server.sim
        rid = str(uuid.uuid4())
        response = sim._error_response(rid, code, message or _phrase(code), sim.faults, ("request-id", rid))
        self.close_connection = True
        self._write(response)

    def _serve(self) -> None:
        sim = self.server.sim
        length_header = self.headers.get("Content-Length")
        body = b""
        if length_header:
            try:
                length = int(length_header)
            except ValueError:
                length = -1
            if not 0 <= length <= 1_000_000:
                self.send_error(400, "invalid Content-Length")
                return
            body = self.rfile.read(length)
        response = sim._dispatch(
            method=self.command,
            raw_path=self.path,
            host=self.headers.get("Host"),
            authorization=self.headers.get("Authorization"),
            content_type=self.headers.get("Content-Type"),
            body=body,
        )
        if response is None:  # the simulator is stopping: drop the connection unanswered
            self.close_connection = True
            return
        self._write(response)

    def _write(self, response: _Response) -> None:
        sim = self.server.sim
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                self.send_header(name, value)
            if sim._stopping.is_set():
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(response.body)
        except OSError:
            self.close_connection = True


class Simulator:
    """The AvePoint partner API, legacy and v3 side by side, for one synthetic fleet, on loopback over real HTTP.

    Both families serve the same fleet: a v3 row is the legacy row with codes for names.

    Everything served is a pure function of the fleet spec, the clock, the pins and the
    faults, so two simulators with the same seed and clock answer byte for byte the same.
    """

    def __init__(
        self,
        fleet: FleetSpec | None = None,
        *,
        client_id: str = DEMO_CLIENT_ID,
        client_secret: str | None = DEMO_CLIENT_SECRET,
        public_key_pem: str | bytes | None = None,
        clock: Callable[[], float] = time.time,
        page_size: int | None = None,
        job_period: float = 86400.0,
        fault_seed: int = 0,
        enforce_scopes: bool = True,
        faults: Faults | None = None,
    ) -> None:
        if page_size is not None and page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        if job_period <= 0:
            raise ValueError(f"job_period must be > 0, got {job_period}")
        self.fleet = fleet or FleetSpec()
        self.client_id = client_id
        self._client_secret = client_secret
        self._public_key, self._thumbprint = _load_public_key(public_key_pem)
        self._clock = clock
        self.page_size = page_size
        self.job_period = float(job_period)
        self.enforce_scopes = enforce_scopes
        self.faults = faults if faults is not None else Faults()

        self._customers = _build_fleet(self.fleet)
        self._by_id = {c.id: c for c in self._customers}

        self._lock = threading.Lock()
        # Pins, removals and extra rows are replaced, never mutated, so request threads read
        # them without taking the lock.
        self._pins: dict[tuple[str, str, str], dict[str, object]] = {}
        self._extra_rows: dict[str, tuple[tuple[str, str], ...]] = {}
        self._removed: frozenset[str] = frozenset()
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}
        self._seen_jti: dict[str, float] = {}

        self._fault_lock = threading.Lock()
        self._fault_rng = random.Random(fault_seed)
        self._burst: deque[float] = deque()

        self._stats_lock = threading.Lock()
        self._requests: Counter[tuple[str, int]] = Counter()
        self._request_log: deque[tuple[float, str, str, int]] = deque(maxlen=1000)

        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0: any free port), serve in a daemon thread, return base_url."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        bare = host.strip("[]")
        family = socket.AF_INET6 if ":" in bare else socket.AF_INET
        self._stopping.clear()
        server = _Server((bare, port), self, family)
        shown = f"[{bare}]" if family == socket.AF_INET6 else bare
        self._base_url = f"http://{shown}:{server.server_port}"
        self._server = server
        # A short poll interval is what lets stop() return quickly.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"avepoint-sim-{server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self._base_url

    def stop(self) -> None:
        """Close the listening socket and end every handler thread, sleeping ones included."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes every fault sleep
        server.shutdown()
        server.server_close()
        with server.conn_lock:
            active = list(server.active.items())
        for conn, _ in active:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 1.0
        for _, handler in active:
            handler.join(max(0.0, deadline - time.monotonic()))
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._server = None
        self._thread = None

    def __enter__(self) -> Simulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("simulator not started")
        return self._base_url

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/connect/token"

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted since start (keep-alive shows as few connections)."""
        server = self._server
        return server.connections_accepted if server is not None else 0

    # -- the fleet ---------------------------------------------------------------------------

    @property
    def customers(self) -> list[dict[str, str]]:
        """The customers as `GET /partner/customers` serves them (copies)."""
        removed = self._removed
        return [dict(c.record) for c in self._customers if c.id not in removed]

    @property
    def customer_ids(self) -> list[str]:
        removed = self._removed
        return [c.id for c in self._customers if c.id not in removed]

    def jobs(self, customer_id: str, at: float | None = None) -> list[dict[str, object]]:
        """The job rows of a customer as the legacy routes serve them at `at` (default: the clock), pins applied."""
        return [_legacy_job_row(row) for row in self._rows_of(customer_id, at)]

    def _rows_of(self, customer_id: str, at: float | None) -> list[dict[str, object]]:
        customer = self._served_customer(customer_id)
        if customer is None:
            raise KeyError(customer_id)
        return self._job_rows(customer, self._clock() if at is None else at)

    def protected(self, customer_id: str, at: float | None = None) -> list[dict[str, object]]:
        customer = self._served_customer(customer_id)
        if customer is None:
            raise KeyError(customer_id)
        return self._protected_rows(customer, self._clock() if at is None else at)

    def services(self, at: float | None = None) -> list[dict[str, object]]:
        now = self._clock() if at is None else at
        removed = self._removed
        return [self._service(c, now) for c in self._customers if c.id not in removed]

    @property
    def customers_v3(self) -> list[dict[str, object]]:
        """The customers as v3's `customers/batch` serves them (all pages)."""
        removed = self._removed
        return [_v3_customer(c) for c in self._customers if c.id not in removed]

    def jobs_v3(self, customer_id: str, at: float | None = None) -> list[dict[str, object]]:
        """The job rows of a customer as v3's `jobs/batch` serves them: `jobs()` with codes."""
        return [_v3_job_row(row) for row in self._rows_of(customer_id, at)]

    def services_v3(self, at: float | None = None) -> list[dict[str, object]]:
        now = self._clock() if at is None else at
        removed = self._removed
        return [self._service(c, now, v3=True) for c in self._customers if c.id not in removed]

    def run_window(
        self, customer_id: str, job_type: str, job_module: str, at: float | None = None
    ) -> tuple[float, float] | None:
        """(start, end) of the latest run of a module at `at`; None if it never runs."""
        customer = self._by_id[customer_id]
        job_type, job_module = _internal(job_type, job_module)
        for module in customer.modules:
            if (module.job_type, module.job_module) == (job_type, job_module):
                if module.never_run:
                    return None
                now = self._clock() if at is None else at
                start, seconds, _, _, _ = self._run(module, now)
                return float(start), float(start + seconds)
        raise KeyError((customer_id, job_type, job_module))

    def pin(self, customer_id: str, job_type: str, job_module: str, **fields: object) -> None:
        """Override fields of a job row from now on; `MISSING` drops a field.

        Pinning a (type, module) the customer does not have adds that row (as never run,
        plus the pinned fields), which scripts "a new module appears".
        """
        if customer_id not in self._by_id:
            raise KeyError(customer_id)
        job_type, job_module = _internal(job_type, job_module)
        key = (customer_id, job_type, job_module)
        with self._lock:
            pins = dict(self._pins)
            pins[key] = {**pins.get(key, {}), **fields}
            self._pins = pins
            own = {(m.job_type, m.job_module) for m in self._by_id[customer_id].modules}
            extra = self._extra_rows.get(customer_id, ())
            if (job_type, job_module) not in own and (job_type, job_module) not in extra:
                self._extra_rows = {
                    **self._extra_rows,
                    customer_id: (*extra, (job_type, job_module)),
                }

    def unpin(self, customer_id: str, job_type: str, job_module: str, *fields: str) -> None:
        """Drop the named pinned fields of a row, or all of them (and any added row)."""
        job_type, job_module = _internal(job_type, job_module)
        key = (customer_id, job_type, job_module)
        with self._lock:
            pins = dict(self._pins)
            current = pins.pop(key, {})
            rest = {k: v for k, v in current.items() if k not in fields} if fields else {}
            if rest:
                pins[key] = rest
            else:
                extra = tuple(pair for pair in self._extra_rows.get(customer_id, ()) if pair != (job_type, job_module))
                self._extra_rows = {**self._extra_rows, customer_id: extra}
            self._pins = pins

    def remove_customer(self, customer_id: str) -> None:
        """The customer disappears from every list; its routes answer 404."""
        if customer_id not in self._by_id:
            raise KeyError(customer_id)
        with self._lock:
            self._removed = self._removed | {customer_id}

    def restore_customer(self, customer_id: str) -> None:
        if customer_id not in self._by_id:
            raise KeyError(customer_id)
        with self._lock:
            self._removed = self._removed - {customer_id}

    def rename_customer(self, customer_id: str, organization: str) -> None:
        """Serve the customer under another organization name from now on (a hostile one, say)."""
        with self._lock:
            old = self._by_id[customer_id]
            customer = replace(old, record={**old.record, "organization": organization})
            self._customers = [customer if c.id == customer_id else c for c in self._customers]
            self._by_id = {**self._by_id, customer_id: customer}

    def revoke_tokens(self) -> None:
        """Every token issued so far answers 401 from now on."""
        with self._lock:
            self._tokens = {}

    # -- observability -----------------------------------------------------------------------

    @property
    def requests(self) -> Counter[tuple[str, int]]:
        """A snapshot: (route template, status) -> number of requests answered."""
        with self._stats_lock:
            return Counter(self._requests)

    @property
    def request_log(self) -> deque[tuple[float, str, str, int]]:
        """A snapshot of the last 1000 requests: (wall time, method, path, status)."""
        with self._stats_lock:
            return deque(self._request_log, maxlen=self._request_log.maxlen)

    def reset_counters(self) -> None:
        with self._stats_lock:
            self._requests.clear()
            self._request_log.clear()

    # -- rows --------------------------------------------------------------------------------

    def _served_customer(self, customer_id: str) -> _Customer | None:
        customer = self._by_id.get(customer_id) or self._by_id.get(customer_id.lower())
        if customer is None or customer.id in self._removed:
            return None
        return customer

    def _run(self, module: _Module, now: float) -> tuple[int, int, str, tuple[float, ...], bytes]:
        """The latest run at `now`: start, length in seconds, outcome, its draws, its id bytes."""
        period = self.job_period
        phase = module.phase * period
        number = math.floor((now - phase) / period)
        start = math.floor(number * period + phase)
        draws, spare = _uniforms(module.key + b"|" + str(number).encode())
        outcome = next(name for limit, name in _OUTCOMES if draws[0] < limit)
        if outcome == "Failed to start":
            seconds = 1.0 + 5.0 * draws[1]
        elif outcome == "Skipped":
            seconds = 1.0
        else:
            seconds = module.base_seconds * (0.6 + 0.8 * draws[1])
            if outcome == "Canceled":
                seconds *= 0.1 + 0.7 * draws[5]
        # A run must end before the next one starts, also with the short periods of tests.
        length = max(1, min(int(seconds), int(0.6 * period)))
        return start, length, outcome, draws, spare

    def _job_row(self, module: _Module, now: float) -> dict[str, object]:
        if module.never_run:
            return _never_run_row(module.job_type, module.job_module)
        start, length, outcome, draws, spare = self._run(module, now)
        growth = _growth(start)
        total = max(1, round(module.base_objects * growth * (0.97 + 0.06 * draws[2])))
        size = module.base_bytes * growth
        skipped = int(total * 0.002 * draws[3]) if draws[3] < 0.3 else 0
        failed = warning = 0
        if outcome == "Finished with exception":
            warning = min(total - skipped, 1 + int(draws[4] * min(50.0, total * 0.01)))
        elif outcome == "Failed":
            # The v3 sample has status Failed with failedCount "0" (a job can fail as a whole).
            failed = 0 if draws[4] < 0.3 else min(total - skipped, 1 + int(draws[4] * total * 0.05))
            size *= 0.2 + 0.6 * draws[5]
        elif outcome == "Canceled":
            done = 0.1 + 0.7 * draws[5]
            total, skipped, size = int(total * done), int(skipped * done), size * done
        elif outcome in ("Failed to start", "Skipped"):
            total = skipped = 0
            size = 0.0
        end = start + length
        running = now < end
        if running:
            # The row of a run in progress: partial counts, no end time yet.
            done = (now - start) / length
            total, failed, skipped, warning = (
                int(total * done),
                int(failed * done),
                int(skipped * done),
                int(warning * done),
            )
            size *= done
        successful = max(0, total - failed - skipped - warning)
        return {
            "jobType": module.job_type,
            "jobModule": module.job_module,
            "status": "Running" if running else outcome,
            # Shaped like the documented FB20250911032116214502 (masked FB20****1103****214502 in
            # docs/elements/general/job/get-customer-jobs.md): "FB", the start time, six digits.
            "jobId": _job_id(start, spare),
            # The same sample names a job that ran "N/A".
            "name": "N/A" if spare[4] < 64 else f"{module.job_module} scheduled backup",
            "totalCount": str(total),
            "failedCount": str(failed),
            "successfulCount": str(successful),
            "skippedCount": str(skipped),
            "warningCount": str(warning),
            "backupSize": format_size(size),
            "startTime": _iso(start),
            "endTime": "N/A" if running else _iso(end),
            "lastModifyTime": _iso(now) if running else _iso(end),
            "jobDuration": format_duration(int(now) - start if running else length),
        }

    def _job_rows(self, customer: _Customer, now: float) -> list[dict[str, object]]:
        pins = self._pins
        rows: list[dict[str, object]] = []
        for module in customer.modules:
            row = self._job_row(module, now)
            pinned = pins.get((customer.id, module.job_type, module.job_module))
            rows.append(_apply_pins(row, pinned) if pinned else row)
        for job_type, job_module in self._extra_rows.get(customer.id, ()):
            pinned = pins.get((customer.id, job_type, job_module), {})
            rows.append(_apply_pins(_never_run_row(job_type, job_module), pinned))
        return rows

    def _protected_rows(self, customer: _Customer, now: float) -> list[dict[str, object]]:
        growth = _growth(now)
        rows: list[dict[str, object]] = []
        for module in customer.modules:
            if module.job_type != _M365:
                continue
            scanned = round(module.base_objects * growth * module.scan_factor)
            protected = 0 if module.never_run else round(scanned * module.protected_share)
            stored = 0.0 if module.never_run else module.base_bytes * growth * module.stored_factor
            rows.append(
                {
                    "customerId": customer.id,
                    "customer": customer.email,
                    # As both generations' samples spell them (AvePoint/cloud-api
                    # docs/docs/services-and-features/elements/data-protection/customers-protected.md,
                    # docs/elements/general/job/get-customer-cloud-backup-m365-overview.md).
                    "serviceType": _SERVICE_NAMES[_M365],
                    "serviceModule": _LEGACY_MODULE.get(module.job_module, module.job_module),
                    "totalScannedObjects": scanned,
                    "totalProtectedObjects": protected,
                    "dataSizeStoredInAvePoint": "N/A" if customer.byos else format_size(stored),
                    "dataSizeStoredInBYOS": format_size(stored) if customer.byos else "N/A",
                }
            )
        return rows

    def _service(self, customer: _Customer, now: float, *, v3: bool = False) -> dict[str, object]:
        growth = _growth(now)
        day = math.floor((now - _GROWTH_EPOCH) / _DAY)
        products: list[dict[str, str]] = []
        for product in customer.products:
            modules = [
                m
                for m in customer.modules
                if m.job_module in product.modules
                or (not product.modules and _SERVICE_NAMES[m.job_type] == product.service)
            ]
            consumed = sum(m.base_bytes * m.stored_factor for m in modules) * growth
            renewals = max(0, math.ceil((day - product.anchor_day) / 365))
            expires_day = product.anchor_day + 365 * (renewals - (1 if product.lapsed else 0))
            expires = _date(_GROWTH_EPOCH + expires_day * _DAY)
            per_user = product.model == "User-based"
            m365 = product.service == _SERVICE_NAMES[_M365]
            purchased = "N/A" if per_user else f"{product.capacity_gib} GB"
            if v3 and not per_user:
                # v3 spells it "used/purchased", e.g. "0/1 GB"; the used side is the consumed storage.
                purchased = f"{_gib_number(consumed)}/{product.capacity_gib} GB"
            contract_end = expires if product.contract else "N/A"
            if v3:  # ISO 8601 instead of a bare date
                expires = f"{expires}T00:00:00Z"
                contract_end = contract_end if contract_end == "N/A" else f"{contract_end}T00:00:00Z"
            products.append(
                {
                    "service": product.service,
                    "subscriptionModel": product.model,
                    "purchasedUserSeats": str(product.seats) if per_user else "N/A",
                    "purchasedUnits": str(product.units) if product.units else "N/A",
                    "microsoftLicenseAssigned": (str(product.assigned) if m365 else "N/A"),
                    "microsoftLicenseAvailable": (
                        str(max(0, product.seats - product.assigned)) if m365 and per_user else "N/A"
                    ),
                    "purchasedCapacity": purchased,
                    "protectedCapacity": "N/A" if per_user else format_size(consumed),
                    "storage": product.storage,
                    "retention": product.retention,
                    "consumedStorage": format_size(consumed),
                    "expirationDate": expires,
                    "change": "N/A",
                    "source": product.source,
                    "paymentType": product.payment,
                    "subscriptionName": "N/A",
                    "package": product.package,
                    "contractEndDate": contract_end,
                }
            )
        service: dict[str, object] = {
            "customerId": customer.id,
            "organization": customer.record["organization"],
            "customer": customer.email,
            "tenantId": ",".join(customer.tenant_ids),
            "products": products,
        }
        if v3:
            # v3 services carry no tenantId (docs/elements/general/service subscription/get-all-services.md).
            del service["tenantId"]
        return service

    # -- HTTP --------------------------------------------------------------------------------

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; False when stop() cut the sleep short."""
        return seconds <= 0 or not self._stopping.wait(seconds)

    def _record(self, template: str, status: int, method: str, path: str) -> None:
        with self._stats_lock:
            self._requests[(template, status)] += 1
            self._request_log.append((time.time(), method, path, status))

    def _dispatch(
        self,
        *,
        method: str,
        raw_path: str,
        host: str | None,
        authorization: str | None,
        content_type: str | None,
        body: bytes,
    ) -> _Response | None:
        split = urlsplit(raw_path)
        template, params = _match(split.path)
        # Links are absolute, built from the address the client used (like a server behind
        # its own host name), so a client must follow them rather than rebuild them.
        base = f"http://{host}" if host else self.base_url
        rid = str(uuid.uuid4())
        if template == ROUTE_TOKEN:
            response = self._token(method, content_type, authorization, body, base)
        else:
            response = self._data(
                rid=rid,
                method=method,
                template=template,
                params=params,
                query=split.query,
                authorization=authorization,
                base=base,
                content_type=content_type,
                body=body,
            )
        if response is None:
            return None
        self._record(template, response.status, method, raw_path)
        return _Response(
            response.status,
            response.body,
            response.content_type,
            (("request-id", rid), *response.headers),
        )

    def _error_response(
        self,
        request_id: str,
        status: int,
        message: str,
        faults: Faults,
        *headers: tuple[str, str],
    ) -> _Response:
        """An error in the shape AvePoint documents for its APIs; the body repeats the request id.

        `{statusCode, message, errors[{code, field, message}], requestId, timestamp, traceId}`
        (see /work/shared/avepoint-api.md "Error bodies"); the partner pages document none of their own.
        """
        if faults.html_errors:
            return _Response(status, _html_error_page(status), "text/html", headers)
        body = {
            "statusCode": status,
            "message": message,
            "errors": [],
            "requestId": request_id,
            "timestamp": _iso(time.time()),
            "traceId": request_id.replace("-", ""),
        }
        return _Response(status, _dumps(body), headers=headers)

    def _token(
        self,
        method: str,
        content_type: str | None,
        authorization: str | None,
        body: bytes,
        base: str,
    ) -> _Response | None:
        faults = self.faults
        if not self._sleep(faults.token_latency):
            return None
        if faults.token_status is not None:
            status = faults.token_status
            code = "server_error" if status >= 500 else "invalid_client"
            return _oauth_error(status, code, faults, self._retry_after(status, faults))
        if method != "POST":
            return _oauth_error(405, "invalid_request", faults, (("Allow", "POST"),))
        if "application/x-www-form-urlencoded" not in (content_type or "").lower():
            return _oauth_error(400, "invalid_request", faults)
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return _oauth_error(400, "invalid_request", faults)
        values = {name: items[0] for name, items in form.items() if items}
        if values.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", faults)
        if not self._authenticate(values, authorization, base):
            return _oauth_error(400, "invalid_client", faults)
        requested = values.get("scope", "").split()
        if not requested or any(scope not in _KNOWN_SCOPES for scope in requested):
            return _oauth_error(400, "invalid_scope", faults)
        ttl = faults.token_ttl
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            live = {t: v for t, v in self._tokens.items() if v[0] > now}
            live[token] = (now + ttl, frozenset(requested))
            self._tokens = live
        body_out = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": " ".join(dict.fromkeys(requested)),
        }
        no_store = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
        return _Response(200, _dumps(body_out), headers=no_store)

    def _authenticate(self, form: dict[str, str], authorization: str | None, base: str) -> bool:
        assertion_type = form.get("client_assertion_type")
        assertion = form.get("client_assertion")
        if assertion_type is not None or assertion is not None:
            if assertion_type != _ASSERTION_TYPE or not assertion:
                return False
            return self._verify_assertion(assertion, form.get("client_id"), base)
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization[:6].lower() == "basic ":
            # client_secret_basic, which IdentityServer accepts as well as the form fields.
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if self._client_secret is None or client_id is None or secret is None:
            return False
        return hmac.compare_digest(client_id.encode(), self.client_id.encode()) & hmac.compare_digest(
            secret.encode(), self._client_secret.encode()
        )

    def _verify_assertion(self, assertion: str, form_client_id: str | None, base: str) -> bool:
        if self._public_key is None:
            return False
        if form_client_id is not None and form_client_id != self.client_id:
            return False
        try:
            header = jwt.get_unverified_header(assertion)
            kid, x5t = header.get("kid"), header.get("x5t")
            if not kid and not x5t:
                return False
            if self._thumbprint is not None and not _thumbprint_matches(self._thumbprint, kid, x5t):
                return False
            claims = jwt.decode(
                assertion,
                self._public_key,
                algorithms=["RS256"],
                audience=[f"{base}/connect/token", self.token_url],
                issuer=self.client_id,
                # exp and nbf are checked below against the simulator's clock.
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["iss", "sub", "aud", "exp", "jti"],
                },
            )
        except jwt.PyJWTError:
            return False
        exp, nbf, jti = claims.get("exp"), claims.get("nbf"), claims.get("jti")
        if claims.get("sub") != self.client_id or not isinstance(jti, str):
            return False
        if not isinstance(exp, int | float) or not isinstance(nbf, int | float | None):
            return False

        def valid_at(now: float) -> bool:
            return now - _ASSERTION_LEEWAY < exp and (nbf is None or nbf <= now + _ASSERTION_LEEWAY)

        # Tests drive the simulator's clock (hours ahead, to expire tokens) while a client
        # may sign with the wall clock: an assertion valid by either is accepted.
        if not (valid_at(self._clock()) or valid_at(time.time())):
            return False
        # IdentityServer refuses a replayed assertion: a client must mint a fresh jti.
        with self._lock:
            now = time.time()
            self._seen_jti = {j: t for j, t in self._seen_jti.items() if t > now}
            if jti in self._seen_jti:
                return False
            self._seen_jti[jti] = max(now, float(exp)) + 2 * _ASSERTION_LEEWAY + 3600
        return True

    def _retry_after(self, status: int, faults: Faults) -> tuple[tuple[str, str], ...]:
        if faults.retry_after is not None and status in (429, 503):
            return (("Retry-After", str(faults.retry_after)),)
        return ()

    def _rate_limited(self, burst: int) -> bool:
        # Real seconds, not the injectable clock: a test that freezes the fleet's clock
        # must not freeze the rate limiter's window too.
        now = time.monotonic()
        with self._fault_lock:
            while self._burst and self._burst[0] <= now - 1.0:
                self._burst.popleft()
            if len(self._burst) >= burst:
                return True
            self._burst.append(now)
            return False

    def _data(
        self,
        *,
        rid: str,
        method: str,
        template: str,
        params: tuple[str, ...],
        query: str,
        authorization: str | None,
        base: str,
        content_type: str | None = None,
        body: bytes = b"",
    ) -> _Response | None:
        faults = self.faults
        if not self._sleep(faults.latency):
            return None
        # Faults first: a gateway or proxy answers these before the service sees the token.
        if faults.rate_limit_burst is not None and self._rate_limited(faults.rate_limit_burst):
            return self._error_response(rid, 429, "Too many requests", faults, *self._retry_after(429, faults))
        if faults.status_override is not None:
            status = faults.status_override
            return self._error_response(rid, status, _phrase(status), faults, *self._retry_after(status, faults))
        if faults.error_rate > 0:
            with self._fault_lock:
                failing = self._fault_rng.random() < faults.error_rate
                kind = self._fault_rng.randrange(7) if failing else -1
            if 0 <= kind <= 3:
                status = (500, 502, 503, 504)[kind]
                return self._error_response(rid, status, _phrase(status), faults)
            if kind == 4:
                return self._error_response(rid, 429, "Too many requests", faults, ("Retry-After", "1"))
            if kind == 5:
                return self._error_response(rid, 429, "Too many requests", faults)
            if kind == 6 and not self._sleep(faults.timeout_sleep):
                return None
        if template == ROUTE_UNKNOWN:
            return self._error_response(rid, 404, "No such route", faults)
        allowed = _ROUTE_METHOD[template]
        if method != allowed:
            return self._error_response(rid, 405, "Method not allowed", faults, ("Allow", allowed))
        scopes = self._token_scopes(authorization)
        if scopes is None:
            return self._error_response(
                rid,
                401,
                "The access token is missing, invalid or expired",
                faults,
                ("WWW-Authenticate", 'Bearer error="invalid_token"'),
            )
        if self.enforce_scopes and _ROUTE_SCOPE[template] not in scopes:
            return self._error_response(
                rid,
                403,
                f"The access token lacks the scope {_ROUTE_SCOPE[template]}",
                faults,
                ("WWW-Authenticate", 'Bearer error="insufficient_scope"'),
            )
        now = self._clock()
        if template.startswith(_V3):
            return self._v3_data(
                rid=rid, template=template, params=params, query=query, content_type=content_type, body=body, now=now
            )
        payload: object
        if template == ROUTE_CUSTOMERS:
            try:
                payload = self._page(
                    [c.record for c in self._customers if c.id not in self._removed],
                    query,
                    base,
                    "Customers",
                    ROUTE_CUSTOMERS,
                )
            except ValueError as exc:
                return self._error_response(rid, 400, str(exc), faults)
        elif template == ROUTE_SERVICES:
            try:
                payload = self._page(self.services(now), query, base, "Services", ROUTE_SERVICES)
            except ValueError as exc:
                return self._error_response(rid, 400, str(exc), faults)
        else:
            customer = self._served_customer(params[0])
            if customer is None:
                return self._error_response(rid, 404, f"Customer {params[0]} not found", faults)
            if customer.id in faults.forbidden_customers:
                return self._error_response(rid, 403, "The application may not read this customer", faults)
            if customer.id in faults.failing_customers:
                return self._error_response(rid, 500, "Internal server error", faults)
            # Every legacy answer carries its @odata.context, as in each legacy sample
            # (AvePoint/cloud-api docs/docs/services-and-features/elements/**).
            context = f"{base}/partner/$metadata#"
            if template == ROUTE_CUSTOMER:
                payload = {"@odata.context": context + "Customers/$entity", **customer.record}
            elif template == ROUTE_JOBS:
                payload = {
                    "@odata.context": context + "Collection(Portal.Api.Model.BackUpJob)",
                    "value": [_legacy_job_row(row) for row in self._job_rows(customer, now)],
                }
            elif template == ROUTE_JOBS_BY_MODULE:
                # The path names the job in the legacy spelling, as the legacy rows do.
                wanted = (params[1].lower(), params[2].lower())
                rows = [
                    row
                    for row in map(_legacy_job_row, self._job_rows(customer, now))
                    if (str(row.get("jobType", "")).lower(), str(row.get("jobModule", "")).lower()) == wanted
                ]
                payload = {"@odata.context": context + "Collection(Portal.Api.Model.BackUpJob)", "value": rows}
            else:
                payload = {
                    "@odata.context": context + "Collection(Portal.Api.Model.CustomerOverallProtected)",
                    "value": self._protected_rows(customer, now),
                }
        return self._ok(_dumps(payload), faults)

    def _v3_data(
        self,
        *,
        rid: str,
        template: str,
        params: tuple[str, ...],
        query: str,
        content_type: str | None,
        body: bytes,
        now: float,
    ) -> _Response:
        faults = self.faults
        customer: _Customer | None = None
        if params:
            customer = self._served_customer(params[0])
            if customer is None:
                return self._error_response(rid, 404, f"Customer {params[0]} not found", faults)
            if customer.id in faults.forbidden_customers:
                return self._error_response(rid, 403, "The application may not read this customer", faults)
            if customer.id in faults.failing_customers:
                return self._error_response(rid, 500, "Internal server error", faults)
        payload: object
        try:
            request = _json_body(body, content_type)
            if template == ROUTE_V3_PROTECTED:
                assert customer is not None
                # Paged since December 2025 (AvePoint/cloud-api docs/elements/change-log.md).
                payload = self._v3_page(self._protected_rows(customer, now), query)
            elif template == ROUTE_V3_JOBS:
                assert customer is not None
                job_type, job_module = _int_filter(request, "jobType"), _int_filter(request, "jobModule")
                rows = [
                    row
                    for row in map(_v3_job_row, self._job_rows(customer, now))
                    if job_type in (None, row.get("jobType")) and job_module in (None, row.get("jobModule"))
                ]
                payload = self._v3_page(rows, query)
            else:
                wanted = _id_filter(request)
                chosen = [
                    c
                    for c in self._customers
                    if c.id not in self._removed and (wanted is None or c.id.lower() in wanted)
                ]
                if template == ROUTE_V3_CUSTOMERS:
                    payload = self._v3_page([_v3_customer(c) for c in chosen], query)
                else:
                    payload = self._v3_page([self._service(c, now, v3=True) for c in chosen], query)
        except ValueError as exc:
            return self._error_response(rid, 400, str(exc), faults)
        return self._ok(_dumps(payload), faults)

    def _v3_page(self, items: list[Any], query: str) -> dict[str, object]:
        """One page of a v3 batch route; `page_size`, when set, caps what a client asks for."""
        values = parse_qs(query, keep_blank_values=True)
        index = _int_param(values, "pageIndex", 1)
        size = _int_param(values, "pageSize", V3_DEFAULT_PAGE_SIZE)
        if index < 1:
            raise ValueError(f"pageIndex must be 1 or more, got {index}")
        if not 1 <= size <= V3_MAX_PAGE_SIZE:
            raise ValueError(f"pageSize must be between 1 and {V3_MAX_PAGE_SIZE}, got {size}")
        faults = self.faults
        for cap in (self.page_size, faults.v3_page_cap):
            if cap is not None:
                size = min(size, cap)
        served = 1 if faults.v3_stuck_page_index else index
        start = (served - 1) * size
        return {
            "data": items[start : start + size],
            "metadata": {
                "pageIndex": index,
                "pageSize": size,
                "totalCount": len(items) + faults.v3_total_count_offset,
            },
        }

    def _page(self, items: list[Any], query: str, base: str, entity: str, route: str) -> dict[str, object]:
        raw_skip = parse_qs(query).get("$skip", ["0"])[0]
        try:
            skip = int(raw_skip)
        except ValueError:
            skip = -1
        if skip < 0:
            raise ValueError(f"$skip must be a non-negative integer, got {raw_skip!r}")
        payload: dict[str, object] = {"@odata.context": f"{base}/partner/$metadata#{entity}"}
        if self.page_size is None:
            payload["value"] = items[skip:]
            return payload
        end = skip + self.page_size
        payload["value"] = items[skip:end]
        if end < len(items):
            payload["@odata.nextLink"] = f"{base}{route}?$skip={end}"
        return payload

    def _ok(self, body: bytes, faults: Faults) -> _Response:
        content_type = "application/json; charset=utf-8"
        if faults.html_ok:
            body, content_type = _HTML_OK_PAGE, "text/html; charset=utf-8"
        if faults.truncated:
            body = body[: len(body) // 2]
        return _Response(200, body, content_type)

    def _token_scopes(self, authorization: str | None) -> frozenset[str] | None:
        if not authorization or authorization[:7].lower() != "bearer ":
            return None
        entry = self._tokens.get(authorization[7:].strip())
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]


def _apply_pins(row: dict[str, object], pinned: dict[str, object]) -> dict[str, object]:
    out = dict(row)
    for name, value in pinned.items():
        if value is MISSING:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def _match(path: str) -> tuple[str, tuple[str, ...]]:
    """Route template and decoded parameters of a request path."""
    # Split before decoding so an encoded `/` stays inside its segment.
    raw = [s for s in path.split("/") if s]
    parts = [unquote(s) for s in raw]
    lower = [p.lower() for p in parts]
    if lower == ["connect", "token"]:
        return ROUTE_TOKEN, ()
    if lower == ["partner", "services"]:
        return ROUTE_SERVICES, ()
    if lower[:5] == ["partner", "external", "v3", "general", "customers"]:
        return _match_v3(parts[5:], lower[5:])
    if lower[:2] != ["partner", "customers"]:
        return ROUTE_UNKNOWN, ()
    if len(parts) == 2:
        return ROUTE_CUSTOMERS, ()
    if len(parts) == 3:
        return ROUTE_CUSTOMER, (parts[2],)
    if len(parts) == 4 and lower[3] == "jobs":
        return ROUTE_JOBS, (parts[2],)
    if len(parts) == 4 and lower[3] == "protected":
        return ROUTE_PROTECTED, (parts[2],)
    if len(parts) == 8 and (lower[3], lower[4], lower[6]) == ("jobs", "jobtype", "jobmodule"):
        return ROUTE_JOBS_BY_MODULE, (parts[2], parts[5], parts[7])
    return ROUTE_UNKNOWN, ()


def _match_v3(parts: list[str], lower: list[str]) -> tuple[str, tuple[str, ...]]:
    if lower == ["batch"]:
        return ROUTE_V3_CUSTOMERS, ()
    if lower == ["services", "batch"]:
        return ROUTE_V3_SERVICES, ()
    if len(parts) == 4 and lower[1:] == ["avpt-products", "jobs", "batch"]:
        return ROUTE_V3_JOBS, (parts[0],)
    if len(parts) == 3 and lower[1:] == ["cloud-backup-m365", "overview"]:
        return ROUTE_V3_PROTECTED, (parts[0],)
    return ROUTE_UNKNOWN, ()


def _json_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The JSON object a v3 batch route was sent; no body reads as {} (every filter is optional)."""
    if not body.strip():
        return {}
    if "json" not in (content_type or "").lower():
        raise ValueError("the request body must be JSON (Content-Type: application/json)")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("the request body is not valid JSON") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError("the request body must be a JSON object")
    return data


def _id_filter(request: dict[str, Any]) -> set[str] | None:
    ids = request.get("customerIds")
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError("customerIds must be a list of strings")
    return {i.lower() for i in ids}


def _int_filter(request: dict[str, Any], key: str) -> int | None:
    value = request.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{key} must be an integer")
    return value


def _int_param(values: dict[str, list[str]], key: str, default: int) -> int:
    raw = values.get(key, [str(default)])[0]
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {raw!r}") from None


def _encoder(table: Mapping[int, str], **aliases: int) -> Callable[[object], object]:
    """Legacy name -> v3 code: the table's exact spelling, or a decimal string such as "601".

    Anything else (a pinned oddity) is sent as it is, so tests can feed the exporter's v3
    path the same garbage as the legacy one.
    """
    by_name = {**{name: number for number, name in table.items()}, **aliases}

    def encode(value: object) -> object:
        if isinstance(value, str):
            if value in by_name:
                return by_name[value]
            if value.isascii() and value.isdigit() and len(value) < 10:
                return int(value)
        return value

    return encode


_ENCODE_TYPE: Final = _encoder(codes.JOB_TYPES)
_ENCODE_MODULE: Final = _encoder(codes.JOB_MODULES)
_ENCODE_STATUS: Final = _encoder(codes.JOB_STATUSES, **{"Not Finished": V3_NEVER_RUN_STATUS})
_ENCODE_CUSTOMER_STATUS: Final = _encoder(codes.CUSTOMER_STATUSES)


def _job_id(start: int, spare: bytes) -> str:
    return f"FB{time.strftime('%Y%m%d%H%M%S', time.gmtime(start))}{int.from_bytes(spare[:4]) % 1_000_000:06d}"


def _legacy_job_row(row: dict[str, object]) -> dict[str, object]:
    """A job row with the legacy spellings of its type and module (pinned oddities pass as they are)."""
    job_type, job_module = row.get("jobType"), row.get("jobModule")
    legacy_type = _LEGACY_TYPE.get(job_type) if isinstance(job_type, str) else None
    legacy_module = _LEGACY_MODULE.get(job_module) if isinstance(job_module, str) else None
    if legacy_type is None and legacy_module is None:
        return row
    out = dict(row)
    if legacy_type is not None:
        out["jobType"] = legacy_type
    if legacy_module is not None:
        out["jobModule"] = legacy_module
    return out


def _v3_job_row(row: dict[str, object]) -> dict[str, object]:
    out = dict(row)
    for key, encode in (("jobType", _ENCODE_TYPE), ("jobModule", _ENCODE_MODULE), ("status", _ENCODE_STATUS)):
        if key in out:
            out[key] = encode(out[key])
    return out


def _v3_customer(customer: _Customer) -> dict[str, object]:
    record = customer.record
    return {
        "id": record["id"],
        "organization": record["organization"],
        "ownerEmail": record["ownerEmail"],
        "jobStatus": _ENCODE_CUSTOMER_STATUS(record["jobStatus"]),
        "countryOrRegion": record["countryOrRegion"],
        "managementMode": customer.management_mode,
        "tenants": [
            {"id": tenant_id, "name": name}
            for tenant_id, name in zip(customer.tenant_ids, customer.tenant_names, strict=True)
        ],
    }


def _gib_number(n_bytes: float) -> str:
    return f"{n_bytes / _GIB:.2f}".rstrip("0").rstrip(".") or "0"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"


def _html_error_page(status: int) -> bytes:
    title = html.escape(f"{status} {_phrase(status)}")
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


# What a captive portal or a misrouted ingress answers with 200.
_HTML_OK_PAGE: Final = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in to your account</title></head>"
    b'<body><form method="post" action="/login"><input name="username">'
    b"</form></body></html>\n"
)


def _oauth_error(status: int, code: str, faults: Faults, headers: tuple[tuple[str, str], ...] = ()) -> _Response:
    if faults.html_errors:
        return _Response(status, _html_error_page(status), "text/html", headers)
    return _Response(status, _dumps({"error": code}), headers=headers)


def _load_public_key(pem: str | bytes | None) -> tuple[RSAPublicKey | None, bytes | None]:
    """The key that verifies client assertions and, for a certificate, its SHA-1 thumbprint."""
    if pem is None:
        return None, None
    data = pem.encode() if isinstance(pem, str) else pem
    thumbprint: bytes | None = None
    key: object
    if b"BEGIN CERTIFICATE" in data:
        certificate = x509.load_pem_x509_certificate(data)
        key = certificate.public_key()
        der = certificate.public_bytes(serialization.Encoding.DER)
        # SHA-1 only because the kid/x5t header thumbprint is defined with it.
        thumbprint = hashlib.sha1(der, usedforsecurity=False).digest()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, RSAPublicKey):
        raise ValueError("client assertions are RS256: the public key must be RSA")
    return key, thumbprint


def _thumbprint_matches(thumbprint: bytes, kid: object, x5t: object) -> bool:
    """With a certificate configured, a header thumbprint must name it (hex kid or x5t)."""
    if isinstance(kid, str) and kid.replace(":", "").lower() == thumbprint.hex():
        return True
    if isinstance(x5t, str):
        try:
            if base64.urlsafe_b64decode(x5t + "=" * (-len(x5t) % 4)) == thumbprint:
                return True
        except (binascii.Error, ValueError):
            return False
    return False


def _split_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"--listen wants host:port, got {value!r}")
    return host.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> int:
    """Serve a simulator until SIGTERM or SIGINT; print its base URL first."""
    parser = argparse.ArgumentParser(
        prog="python -m avepoint_simulator.simulator",
        description="A fake AvePoint partner API with a synthetic fleet, for demos and tests.",
    )
    parser.add_argument("--listen", default="127.0.0.1:0", help="host:port (0: a free port)")
    parser.add_argument("--customers", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs-per-customer", type=int, default=None)
    parser.add_argument("--job-period", type=float, default=86400.0, help="seconds")
    parser.add_argument("--page-size", type=int, default=None)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per data request")
    parser.add_argument("--error-rate", type=float, default=0.0, help="0..1")
    parser.add_argument("--client-id", default=DEMO_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEMO_CLIENT_SECRET)
    parser.add_argument("--public-key-file", default=None, help="PEM key or certificate")
    args = parser.parse_args(argv)
    try:
        host, port = _split_listen(args.listen)
        public_key = None
        if args.public_key_file:
            with open(args.public_key_file, "rb") as handle:
                public_key = handle.read()
        sim = Simulator(
            FleetSpec(args.customers, args.seed, args.jobs_per_customer),
            client_id=args.client_id,
            client_secret=args.client_secret,
            public_key_pem=public_key,
            page_size=args.page_size,
            job_period=args.job_period,
            faults=Faults(latency=args.latency, error_rate=args.error_rate),
        )
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        sim.start(host, port)
        print(sim.base_url, flush=True)
        while not done.wait(0.5):
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
