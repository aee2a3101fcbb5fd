"""The configuration: frozen dataclasses, and `load()` that reads YAML, environment and secret files."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from exporter import codes, safe, units
from exporter.codes import Outcome
from exporter.errors import ConfigError

ENV_PREFIX = "AVEPOINT_"
DEFAULT_LISTEN_ADDRESS = ":9877"
LEGACY_SCOPES = ("partner.customers.read.all", "partner.jobs.read.all")
V3_SCOPES = ("elements.customers.read.all", "elements.jobs.read.all")
API_VERSIONS = ("legacy", "v3")
# The scope each endpoint group needs, per API version (the customers list is always read).
ENDPOINT_SCOPES: Mapping[str, Mapping[str, str]] = types.MappingProxyType(
    {
        "legacy": types.MappingProxyType(
            {
                "customers": "partner.customers.read.all",
                "jobs": "partner.jobs.read.all",
                "protected": "partner.cbprotected.read.all",
                "services": "partner.license.read.all",
            }
        ),
        "v3": types.MappingProxyType(
            {
                "customers": "elements.customers.read.all",
                "jobs": "elements.jobs.read.all",
                "protected": "elements.cbprotected.read.all",
                "services": "elements.license.read.all",
            }
        ),
    }
)


class Secret:
    """A string that never shows itself: `repr`, `str` and f-strings print a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _duration(default: str) -> Any:
    return field(default=units.duration(default), metadata={"duration": True})


def _size(default: str) -> Any:
    return field(default=size_bytes(default, "default"), metadata={"size": True})


# Decimal and binary multiples as written in config files: 512KB is 512,000 bytes, 32MiB 33,554,432.
def size_bytes(raw: object, key: str) -> int:
    """A byte size from config: a positive integer (bytes) or a string such as `32MiB`, `512KB`, `1GiB`."""
    value = units.size(raw)
    if value is None:
        raise ConfigError(f"{key}: must be a positive size like 512KiB, 32MiB or 1GiB (or bytes), not {raw!r}")
    return value


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
    cache: CacheConfig = field(default_factory=CacheConfig)
    web: WebConfig = field(default_factory=WebConfig)
    state_file: str = ""
    # Last-success times of jobs not exported for this long (customer or module gone) are forgotten.
    state_retention: float = _duration("90d")


# --- loading ---------------------------------------------------------------------------------------


def load(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file, applying `AVEPOINT_*` overrides from `env`."""
    path = Path(path)
    data = read_yaml(path, "config file")
    if data is None:
        data = {}
    return from_mapping(data, env=env, base_dir=path.parent, source=str(path))


def read_yaml(path: Path, what: str) -> object:
    """A YAML file's content; every way it can fail is a ConfigError that says where."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path}: not UTF-8 text") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise ConfigError(f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{what} {path}: YAML syntax error{where}: {problem}") from None
    except (ValueError, AttributeError, RecursionError) as exc:
        # PyYAML's constructors raise these for values it parsed but cannot build ("2025-13-45").
        raise ConfigError(f"{what} {path}: YAML value that cannot be read ({exc.__class__.__name__})") from None


def from_mapping(
    data: object,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    source: str = "config",
) -> Config:
    """Validate already-parsed YAML (plus environment overrides) into a Config."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, not {_kind(data)}")
    merged = _apply_env(data, env or {})
    config = _build(Config, merged, "")
    auth = merged.get("auth")
    config = _apply_version(config, scopes_given=isinstance(auth, dict) and "scopes" in auth)
    return _resolve_secrets(config, base_dir or Path.cwd())


def default_scopes(version: str, endpoints: EndpointsConfig | None = None) -> tuple[str, ...]:
    """The scopes requested when `auth.scopes` is not set: those of the enabled endpoint groups."""
    endpoints = endpoints or EndpointsConfig()
    scopes = ENDPOINT_SCOPES[version]
    enabled = {
        "customers": True,
        "jobs": endpoints.jobs,
        "protected": endpoints.protected,
        "services": endpoints.services,
    }
    return tuple(scopes[group] for group, on in enabled.items() if on)


def _apply_version(config: Config, *, scopes_given: bool) -> Config:
    """Check `api.version`, pick default scopes for it, and check v3 job selectors against its codes."""
    version = config.api.version
    if version not in API_VERSIONS:
        raise ConfigError(f"api.version: must be one of {', '.join(API_VERSIONS)}, not {version!r}")
    config = _canonical_jobs(config)
    if version == "v3":
        # v3 filters jobs by code: a name without one would select nothing, silently.
        for index, selector in enumerate(config.jobs.select):
            for key, value, table in (
                ("job_type", selector.job_type, codes.JOB_TYPES),
                ("job_module", selector.job_module, codes.JOB_MODULES),
            ):
                if codes.code(table, value) is None:
                    known = ", ".join(table.values())
                    raise ConfigError(
                        f"jobs.select[{index}].{key}: {value!r} has no v3 code; use a number or one of: {known}"
                    )
    if scopes_given:
        return config
    auth = dataclasses.replace(config.auth, scopes=default_scopes(version, config.endpoints))
    return dataclasses.replace(config, auth=auth)


def _canonical_jobs(config: Config) -> Config:
    """Job types and modules of jobs.select and the interval overrides in their canonical spelling.

    Either generation's spelling is accepted under either api.version ("OneDrive for Business"
    or "OneDrive"), and matches the canonical label values the parser exports.
    """
    jobs = config.jobs
    select = tuple(
        JobSelector(codes.canonical_job_type(s.job_type), codes.canonical_job_module(s.job_module)) for s in jobs.select
    )
    overrides = tuple(
        dataclasses.replace(
            o,
            job_type=codes.canonical_job_type(o.job_type) if o.job_type else "",
            job_module=codes.canonical_job_module(o.job_module) if o.job_module else "",
        )
        for o in jobs.expected_interval_overrides
    )
    if select == jobs.select and overrides == jobs.expected_interval_overrides:
        return config
    return dataclasses.replace(
        config, jobs=dataclasses.replace(jobs, select=select, expected_interval_overrides=overrides)
    )


def env_names() -> dict[str, str]:
    """Every environment variable the loader reads, mapped to the config key it sets."""
    return {name: ".".join(path) for name, path in _env_paths(Config, ()).items()}


def _kind(value: object) -> str:
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def _fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _env_paths(cls: type, prefix: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    hints = _hints(cls)
    for f in _fields(cls):
        path = (*prefix, f.name)
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            out.update(_env_paths(typing.cast(type, hint), path))
        else:
            out[ENV_PREFIX + "_".join(path).upper()] = path
    return out


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    merged: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    paths = _env_paths(Config, ())
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = paths.get(name)
        if path is None:
            # AVEPOINT_* is our namespace: a typo there must not pass silently.
            raise ConfigError(f"environment variable {name} does not name a config key")
        node = merged
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"{part}: must be a mapping, not {_kind(child)}")
            node = child
        node[path[-1]] = _EnvValue(name, value)
    return merged


@dataclass(frozen=True)
class _EnvValue:
    """A value that came from the environment: always a string, parsed by the field's type."""

    name: str
    text: str


def _build(cls: type, data: object, where: str) -> Any:
    if isinstance(data, _EnvValue):
        data = _yaml_scalar(data, where)
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: must be a mapping, not {_kind(data)}")
    known = {f.name: f for f in _fields(cls)}
    unknown = sorted(set(map(str, data)) - set(known))
    if unknown:
        listed = ", ".join(f"{where}.{k}" if where else k for k in unknown)
        raise ConfigError(f"unknown key {listed} (known here: {', '.join(sorted(known))})")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for name, f in known.items():
        key = f"{where}.{name}" if where else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key}: required")
            continue
        raw = data[name]
        if f.metadata.get("size"):
            values[name] = size_bytes(_yaml_scalar(raw, key) if isinstance(raw, _EnvValue) else raw, key)
            continue
        values[name] = _convert(hints[name], raw, key, duration=bool(f.metadata.get("duration")))
    return cls(**values)


def _yaml_scalar(value: _EnvValue, key: str) -> object:
    try:
        return yaml.safe_load(value.text)
    except (yaml.YAMLError, ValueError, AttributeError, RecursionError):
        raise ConfigError(f"{value.name} (for {key}): not valid YAML") from None


def _convert(hint: Any, raw: object, key: str, *, duration: bool = False) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(typing.cast(type, hint), raw, key)
    if hint is Secret or (origin is types.UnionType and Secret in typing.get_args(hint)):
        text = _convert(str, raw, key)
        return Secret(text) if text else None
    env = raw if isinstance(raw, _EnvValue) else None
    if origin is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        if env is not None:
            raw = _env_list(env, key, structured=dataclasses.is_dataclass(item))
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise ConfigError(f"{key}: must be a list, not {_kind(raw)}")
        return tuple(_convert(item, v, f"{key}[{i}]") for i, v in enumerate(raw))
    if origin is Mapping:
        raw = _yaml_scalar(env, key) if env is not None else raw
        return _outcome_map(raw, key)
    if env is not None:
        raw = env.text if hint is str else _yaml_scalar(env, key)
    if duration:
        return _duration_value(raw, key)
    if hint is str:
        if raw is None:
            return ""
        if not isinstance(raw, str):
            raise ConfigError(f"{key}: must be a string, not {_kind(raw)}")
        return raw
    if hint is bool:
        if not isinstance(raw, bool):
            raise ConfigError(f"{key}: must be true or false, not {raw!r}")
        return raw
    if hint in (int, float):
        if (
            isinstance(raw, bool)
            or not isinstance(raw, int | float)
            or (hint is int and isinstance(raw, float))
            or not math.isfinite(raw)
        ):
            raise ConfigError(f"{key}: must be {'an integer' if hint is int else 'a finite number'}, not {raw!r}")
        return hint(raw)
    raise TypeError(f"config field {key} has unsupported type {hint!r}")  # a bug, not user input


def _env_list(value: _EnvValue, key: str, *, structured: bool) -> object:
    text = value.text.strip()
    if structured or text.startswith("["):
        return _yaml_scalar(value, key)
    # Plain lists (ids, scopes) read naturally as comma- or space-separated words.
    return [part for part in text.replace(",", " ").split() if part]


def _duration_value(raw: object, key: str) -> float:
    seconds = units.duration(raw)
    if seconds is None:
        raise ConfigError(f"{key}: must be a positive duration like 30s, 5m, 24h or 7d, not {raw!r}")
    return seconds


def _outcome_map(raw: object, key: str) -> Mapping[str, Outcome]:
    if raw is None:
        return types.MappingProxyType({})
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: must be a mapping of status to outcome, not {_kind(raw)}")
    out: dict[str, Outcome] = {}
    choices = ", ".join(o.value for o in Outcome)
    for status, outcome in raw.items():
        try:
            out[codes.normalize_status(str(status))] = Outcome(str(outcome))
        except ValueError:
            raise ConfigError(f"{key}.{status}: outcome must be one of {choices}, not {outcome!r}") from None
    return types.MappingProxyType(out)


# --- semantic checks and secret files ---------------------------------------------------------------


def _read_secret(base_dir: Path, path: str, key: str) -> str:
    file = base_dir / path
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{key}: {file} is not UTF-8 text") from None
    except ValueError:  # a NUL byte in the path
        raise ConfigError(f"{key}: not a usable file name") from None
    # A trailing newline from `echo` or an editor is never part of a secret.
    text = text.strip()
    if not text:
        raise ConfigError(f"{key}: {file} is empty")
    return text


def _check_url(url: str, key: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # Shown without user info and query: the value may carry a credential.
        raise ConfigError(f"{key}: must be an http(s) URL, not {safe.public_url(url)!r}")


def _resolve_secrets(config: Config, base_dir: Path) -> Config:
    api, auth = config.api, config.auth
    _check_url(api.base_url, "api.base_url")
    _check_url(api.token_url, "api.token_url")
    for key, value, low in (
        ("api.max_concurrency", api.max_concurrency, 1),
        ("api.retries", api.retries, 0),
        ("api.max_json_values", api.max_json_values, 1),
        ("api.max_pages", api.max_pages, 1),
        ("jobs.max_per_customer", config.jobs.max_per_customer, 1),
    ):
        if value < low:
            raise ConfigError(f"{key}: must be at least {low}, not {value}")
    if api.max_requests_per_second <= 0:
        raise ConfigError("api.max_requests_per_second: must be greater than 0")
    if config.web.max_connections < 1:
        raise ConfigError(f"web.max_connections: must be at least 1, not {config.web.max_connections}")
    if config.web.auth_failures_per_minute < 1:
        raise ConfigError(
            f"web.auth_failures_per_minute: must be at least 1, not {config.web.auth_failures_per_minute}"
        )
    if not auth.client_id:
        raise ConfigError("auth.client_id: required")
    if not auth.scopes:
        raise ConfigError("auth.scopes: must name at least one scope")
    secret = auth.client_secret
    chosen = [
        k
        for k, v in (
            ("client_secret", secret),
            ("client_secret_file", auth.client_secret_file),
            ("private_key_file", auth.private_key_file),
        )
        if v
    ]
    if len(chosen) != 1:
        raise ConfigError(
            "auth: set exactly one of client_secret, client_secret_file or private_key_file"
            + (f" (found {', '.join(chosen)})" if chosen else "")
        )
    if auth.client_secret_file:
        secret = Secret(_read_secret(base_dir, auth.client_secret_file, "auth.client_secret_file"))
    key_pem: Secret | None = None
    thumbprint = auth.certificate_thumbprint.replace(":", "").lower()
    if auth.private_key_file:
        key_pem = Secret(_read_secret(base_dir, auth.private_key_file, "auth.private_key_file"))
        thumbprint = _check_certificate(base_dir, auth, key_pem, thumbprint)
    elif auth.certificate_file or auth.certificate_thumbprint:
        raise ConfigError("auth: certificate_file and certificate_thumbprint need private_key_file")
    auth = dataclasses.replace(auth, client_secret=secret, private_key_pem=key_pem, certificate_thumbprint=thumbprint)
    return dataclasses.replace(config, auth=auth)


def _check_certificate(base_dir: Path, auth: AuthConfig, key_pem: Secret, thumbprint: str) -> str:
    """Prove the key parses and matches its certificate; return the certificate's SHA-1 thumbprint."""
    try:
        key = serialization.load_pem_private_key(key_pem.get().encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError("auth.private_key_file: not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError("auth.private_key_file: must be an RSA key (AvePoint signs with RS256)")
    if auth.certificate_file:
        pem = _read_secret(base_dir, auth.certificate_file, "auth.certificate_file").encode()
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise ConfigError("auth.certificate_file: not a PEM certificate") from None
        if cert.public_key().public_numbers() != key.public_key().public_numbers():  # type: ignore[union-attr]
            raise ConfigError("auth.certificate_file: the certificate does not match private_key_file")
        der = cert.public_bytes(serialization.Encoding.DER)
        actual = hashlib.sha1(der, usedforsecurity=False).hexdigest()
        if thumbprint and thumbprint != actual:
            raise ConfigError("auth.certificate_thumbprint: does not match certificate_file")
        return actual
    if len(thumbprint) != 40 or any(c not in "0123456789abcdef" for c in thumbprint):
        raise ConfigError("auth: a certificate needs certificate_file or certificate_thumbprint (40 hex digits, SHA-1)")
    return thumbprint
