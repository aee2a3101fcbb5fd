"""The configuration's shape: frozen dataclasses and their defaults, as the loader fills them from YAML."""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter import units
from exporter.codes import Outcome
from exporter.config.scopes import LEGACY_SCOPES
from exporter.config.secrets import Secret

DEFAULT_LISTEN_ADDRESS = ":9877"


# Field metadata the loader reads: "duration" and "size" pick the unit grammar, "internal" keeps a field
# out of YAML and the environment.
def _duration(default: str) -> Any:
    return field(default=units.duration(default), metadata={"duration": True})


def _size(default: str) -> Any:
    value = units.size(default)
    assert value is not None, default  # a default written here, not a value a user gave
    return field(default=value, metadata={"size": True})


@dataclass(frozen=True)
class ApiConfig:
    base_url: str = "https://graph.avepointonlineservices.com"
    token_url: str = "https://identity.avepointonlineservices.com/connect/token"  # noqa: S105 - a URL
    version: str = "legacy"
    timeout: float = _duration("10s")
    max_concurrency: int = 8
    max_requests_per_second: float = 10.0
    retries: int = 3
    # Upper bound on one backoff sleep, whatever Retry-After asks: a refresh must end in bounded time.
    max_backoff: float = _duration("30s")
    ca_file: str = ""
    # Bounds on what one answer may cost (a hostile or broken upstream must not exhaust memory or time).
    # A 20,000-job customer is an 8.6 MiB body (430 bytes a row, the simulator's rows): these leave room.
    # Bytes as they arrive, before any decompression; checked while reading.
    max_response_size: int = _size("16MiB")
    # Bytes after gzip/deflate decoding, of one request together with all its pages; checked per chunk.
    max_decoded_size: int = _size("32MiB")
    # JSON values (containers and elements) of one request with its pages, counted before json.loads
    # builds them: 100 MB of `{}` fits a byte cap but costs gigabytes as Python objects.
    max_json_values: int = 1_000_000
    # Pages of one list (OData nextLink or v3 pageIndex). v3 pages are at most 100 rows, so even
    # 100,000 customers are 1,000 pages; an endless chain ends there, or at paging_timeout.
    max_pages: int = 1_000
    paging_timeout: float = _duration("5m")


@dataclass(frozen=True)
class AuthConfig:
    client_id: str = ""
    client_secret: Secret | None = None
    client_secret_file: str = ""
    private_key_file: str = ""
    certificate_file: str = ""
    certificate_thumbprint: str = ""
    scopes: tuple[str, ...] = LEGACY_SCOPES
    # Filled by load() from the files above; never read from YAML.
    private_key_pem: Secret | None = field(default=None, metadata={"internal": True})

    @property
    def method(self) -> str:
        return "certificate" if self.private_key_pem is not None else "client_secret"


@dataclass(frozen=True)
class CustomersConfig:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def wanted(self, customer_id: str) -> bool:
        if self.include and customer_id not in self.include:
            return False
        return customer_id not in self.exclude


@dataclass(frozen=True)
class JobSelector:
    job_type: str
    job_module: str


@dataclass(frozen=True)
class IntervalOverride:
    interval: float = field(metadata={"duration": True})
    customer_id: str = ""
    job_type: str = ""
    job_module: str = ""

    def specificity(self, customer_id: str, job_type: str, job_module: str) -> int:
        """-1 when the override does not apply; else how many of its fields matched."""
        score = 0
        for want, have in (
            (self.customer_id, customer_id),
            (self.job_type, job_type),
            (self.job_module, job_module),
        ):
            if want:
                if want != have:
                    return -1
                score += 1
        return score


@dataclass(frozen=True)
class JobsConfig:
    select: tuple[JobSelector, ...] = ()
    expected_interval: float = _duration("24h")
    expected_interval_overrides: tuple[IntervalOverride, ...] = ()
    # Extra status -> outcome mappings; keys are normalised like the built-in table.
    status_outcomes: Mapping[str, Outcome] = field(default_factory=lambda: types.MappingProxyType({}))
    # Job rows one customer may answer (and so job modules, one series set each); more fail its refresh:
    # every row costs some 8 KB once parsed and rendered, so a runaway customer could exhaust memory.
    max_per_customer: int = 25_000

    def expected_interval_for(self, customer_id: str, job_type: str, job_module: str) -> float:
        best, best_score = self.expected_interval, -1
        for override in self.expected_interval_overrides:
            score = override.specificity(customer_id, job_type, job_module)
            if score > best_score:
                best, best_score = override.interval, score
        return best


@dataclass(frozen=True)
class EndpointsConfig:
    """Which endpoint groups to read; each needs its own scope, which an app registration may lack."""

    jobs: bool = True
    protected: bool = False
    services: bool = False
    scan_profiles: bool = False
    # Under v3 with `services`: the tenant types whose user seats are read, one request per type and customer
    # (AvePoint/cloud-api docs/elements/general/tenant/get-3rd-party-products-tenant-type.md). Names or codes
    # 0-3 in the file; the loader stores the names. Empty: no seats. Microsoft 365 only by default: each type
    # is one more request per customer and cache.ttl, which at a rate limit of 10/s a large fleet cannot afford.
    seat_tenant_types: tuple[str, ...] = ("Microsoft 365",)


@dataclass(frozen=True)
class ScanProfilesConfig:
    # Scan profiles one customer may list (endpoints.scan_profiles); more fail its scan-profile refresh.
    # Each profile costs one more request per refresh (its daily summary), so this also bounds the
    # requests one customer adds to every cache.ttl.
    max_per_customer: int = 100


@dataclass(frozen=True)
class CacheConfig:
    ttl: float = _duration("5m")
    # The longest a scrape waits for fresh data, whatever Prometheus' scrape timeout says.
    max_scrape_wait: float = _duration("10s")


@dataclass(frozen=True)
class WebConfig:
    listen_address: str = DEFAULT_LISTEN_ADDRESS
    # With basic auth users in the web config file, only /-/healthy answers without credentials,
    # so liveness probes need none; false closes it too.
    open_health_check: bool = True
    # Connections served at once; past it the longest-waiting idle one is closed, or the new one refused.
    max_connections: int = 64
    # TLS handshake, request line, headers and body must all arrive within this: slow clients end here.
    read_header_timeout: float = _duration("10s")
    # The longest a response may take to write: a client that does not read is cut off.
    write_timeout: float = _duration("30s")
    # How long a kept-alive connection may wait for its next request.
    idle_timeout: float = _duration("30s")
    # Failed basic-auth checks (bcrypt) one client address may cause per minute; past it, 429 without a
    # check, so that guessing cannot keep the server busy in bcrypt. A password that failed before costs none.
    auth_failures_per_minute: int = 10


@dataclass(frozen=True)
class Config:
    api: ApiConfig = field(default_factory=ApiConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    customers: CustomersConfig = field(default_factory=CustomersConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    endpoints: EndpointsConfig = field(default_factory=EndpointsConfig)
    scan_profiles: ScanProfilesConfig = field(default_factory=ScanProfilesConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    web: WebConfig = field(default_factory=WebConfig)
    state_file: str = ""
    # Last-success times of jobs not exported for this long (customer or module gone) are forgotten.
    state_retention: float = _duration("90d")

    @property
    def reads_seats(self) -> bool:
        """The user seats come with the subscriptions, from v3 only (the legacy routes have none), for the tenant
        types listed. The refresher reads them and the status page shows them by this one rule."""
        endpoints = self.endpoints
        return endpoints.services and self.api.version == "v3" and bool(endpoints.seat_tenant_types)
