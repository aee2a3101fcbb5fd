"""The synthetic fleet: customers, their job modules and subscriptions, drawn deterministically from a seed."""

from __future__ import annotations

import hashlib
import random
import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, NamedTuple

GIB: Final = 1024**3


class _Kind(NamedTuple):
    job_type: str
    job_module: str
    size_gib: tuple[float, float]  # log-uniform range of one customer's full backup
    objects: tuple[int, int]
    minutes: tuple[float, float]
    # The name the module's draws are keyed by, where it differs: modules took their v3 spelling
    # later, and keeping the old key keeps every fleet's numbers as they were.
    seed_name: str = ""


M365: Final = "Microsoft 365"
_GOOGLE: Final = "Google Workspace"
# Older documents say `Azure`; the current product name is used, the exporter keeps it verbatim.
IAAS: Final = "IaaS + PaaS"
_DYNAMICS: Final = "Dynamics 365"
_SALESFORCE: Final = "Salesforce"

# Module names are those of the v3 code table, so that both backends serve the same rows.
# Salesforce has a job type (15) but no module in that table: its module gets the undocumented
# code 601, named by its number on both backends (as the exporter names unknown v3 codes), so
# every fleet with a Salesforce customer exercises the path of a code the tables lack.
SALESFORCE_MODULE: Final = "601"

JOB_CATALOG: Final[tuple[_Kind, ...]] = (
    _Kind(M365, "SharePoint Online", (5, 500), (2_000, 400_000), (20, 150)),
    _Kind(M365, "Exchange Online", (10, 800), (5_000, 2_000_000), (30, 180)),
    _Kind(M365, "OneDrive", (5, 1000), (2_000, 800_000), (20, 160), "OneDrive for Business"),
    _Kind(M365, "Microsoft 365 Groups", (1, 200), (500, 100_000), (10, 90), "Microsoft 365 Group"),
    _Kind(M365, "Microsoft Teams", (1, 100), (200, 80_000), (10, 90)),
    _Kind(M365, "Project Online", (0.1, 5), (20, 5_000), (3, 20)),
    _Kind(M365, "Exchange Online Public Folder", (0.5, 50), (100, 50_000), (5, 40)),
    _Kind(M365, "Power BI", (0.05, 5), (10, 2_000), (2, 15)),
    _Kind(M365, "Teams Chat", (0.5, 50), (1_000, 500_000), (10, 60)),
    _Kind(M365, "Power Automate", (0.01, 0.5), (5, 1_000), (1, 10)),
    _Kind(M365, "Power Apps", (0.01, 0.5), (5, 500), (1, 10)),
    _Kind(_GOOGLE, "Gmail", (10, 500), (5_000, 2_000_000), (30, 180)),
    _Kind(_GOOGLE, "Drive", (10, 800), (2_000, 800_000), (20, 160)),
    _Kind(_GOOGLE, "Shared Drives", (1, 200), (500, 200_000), (10, 90)),
    _Kind(_GOOGLE, "Calendar", (0.1, 5), (500, 100_000), (3, 20)),
    _Kind(_GOOGLE, "Contacts", (0.01, 0.5), (100, 20_000), (1, 10)),
    _Kind(IAAS, "Azure Virtual Machine", (50, 2000), (1, 60), (30, 240), "Virtual Machine"),
    _Kind(IAAS, "Storage", (10, 1000), (1_000, 5_000_000), (20, 180)),
    _Kind(IAAS, "Microsoft Entra ID", (0.01, 1), (100, 50_000), (2, 20)),
    _Kind(IAAS, "Azure SQL Backup", (5, 300), (1, 40), (10, 90)),
    _Kind(_DYNAMICS, "Dynamics CRM Backup", (1, 100), (1_000, 900_000), (10, 90), "Dynamics Customer Engagement"),
    _Kind(_SALESFORCE, SALESFORCE_MODULE, (0.5, 50), (1_000, 900_000), (10, 90), "Salesforce"),
)

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

SERVICE_NAMES: Final = {
    M365: "Cloud Backup for Microsoft 365",
    _GOOGLE: "Cloud Backup for Google Workspace",
    IAAS: "Cloud Backup for IaaS + PaaS",
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


@dataclass(frozen=True, slots=True)
class Module:
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
class Product:
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
class Customer:
    id: str
    record: dict[str, str]
    email: str
    modules: tuple[Module, ...]
    byos: bool
    tenant_ids: tuple[str, ...]
    products: tuple[Product, ...]
    # v3 only; drawn from a hash, not the fleet's rng, so the legacy fleet stays as it was.
    management_mode: int = 1
    tenant_names: tuple[str, ...] = ()


def uniforms(data: bytes) -> tuple[tuple[float, ...], bytes]:
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


def _build_module(seed: int, customer_id: str, kind: _Kind) -> Module:
    key = f"{seed}|{customer_id}|{kind.job_type}|{kind.seed_name or kind.job_module}".encode()
    (u_never, u_phase, u_size, u_objects, u_minutes, _), spare = uniforms(key)
    u_scan, u_share, u_stored = (b / 256 for b in spare[:3])
    return Module(
        job_type=kind.job_type,
        job_module=kind.job_module,
        key=key,
        never_run=u_never < 0.06,
        phase=u_phase,
        base_bytes=_log_uniform(*kind.size_gib, u_size) * GIB,
        base_objects=max(1, round(_log_uniform(*kind.objects, u_objects))),
        base_seconds=_log_uniform(*kind.minutes, u_minutes) * 60.0,
        scan_factor=1.02 + 0.3 * u_scan,
        protected_share=0.85 + 0.15 * u_share,
        stored_factor=1.2 + 1.8 * u_stored,
    )


def _build_products(rng: random.Random, modules: tuple[Module, ...], byos: bool) -> tuple[Product, ...]:
    """One subscription per service, spelled as the services samples spell them.

    AvePoint/cloud-api docs/docs/services-and-features/elements/services/service-subscription*.md and
    docs/elements/general/service subscription/get-all-services.md: storage "AvePoint storage",
    "AvePoint storage (Microsoft Azure Blob)" or "Bring your own storage"; retention "Retain data for
    1 month" (and the samples' "1 months", "1 years"); source "AvePoint subscription" or "AvePoint pooled
    subscription"; payment "Prepaid"; IaaS + PaaS subscribed per resource ("... - Azure Storage").
    `subscriptionName` is for Fly and `package` for Cloud Backup for Microsoft 365 only: "N/A" elsewhere.
    """
    products: list[Product] = []
    services: list[tuple[str, str, tuple[str, ...]]] = []
    for job_type in dict.fromkeys(m.job_type for m in modules):
        if job_type == IAAS:
            for module in (m.job_module for m in modules if m.job_type == IAAS):
                services.append((job_type, f"{SERVICE_NAMES[IAAS]} - {_IAAS_SERVICES[module]}", (module,)))
        else:
            services.append((job_type, SERVICE_NAMES[job_type], ()))
    for job_type, service, covered in services:
        per_user = job_type in (M365, _GOOGLE) and rng.random() < 0.7
        seats = rng.choice((25, 50, 100, 250, 500, 1000, 2500))
        products.append(
            Product(
                service=service,
                model="User-based" if per_user else "Capacity-based",
                seats=seats if per_user else 0,
                units=rng.randint(1, 40) if job_type == IAAS else 0,
                assigned=int(seats * (0.6 + 0.45 * rng.random())) if job_type == M365 else 0,
                capacity_gib=0 if per_user else rng.choice((500, 1024, 2048, 5120, 10240)),
                storage="Bring your own storage"
                if byos
                else rng.choice(("AvePoint storage", "AvePoint storage (Microsoft Azure Blob)")),
                retention=rng.choice(_RETENTIONS),
                source=rng.choice(("AvePoint subscription", "AvePoint subscription", "AvePoint pooled subscription")),
                payment="Prepaid",
                package=rng.choice(("Standard", "Enterprise", "N/A")) if job_type == M365 else "N/A",
                anchor_day=rng.randrange(365),
                lapsed=rng.random() < 0.07,
                contract=rng.random() < 0.6,
                modules=covered,
            )
        )
    return tuple(products)


def build_fleet(spec: FleetSpec) -> list[Customer]:
    customers: list[Customer] = []
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
        (u_mode, *_), _ = uniforms(f"{spec.seed}|{customer_id}|v3".encode())
        customers.append(
            Customer(
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
