"""The main config file to a Config: YAML, `AVEPOINT_*` overrides, types read off the dataclasses, checks."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from exporter import codes, safe, units
from exporter.codes import Outcome
from exporter.config import document
from exporter.config.schema import Config, JobSelector
from exporter.config.scopes import API_VERSIONS, default_scopes
from exporter.config.secrets import Secret, resolve_auth
from exporter.errors import ConfigError

ENV_PREFIX = "AVEPOINT_"


def load(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file, applying `AVEPOINT_*` overrides from `env`."""
    path = Path(path)
    data = document.read_mapping(path, "config file")
    return from_mapping(data, env=env, base_dir=path.parent, source=f"config file {path}")


def from_mapping(
    data: object,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    source: str = "config",
) -> Config:
    """Validate already-parsed YAML (plus environment overrides) into a Config."""
    merged = _apply_env(document.top_level(data, source), env or {})
    config = _build(Config, merged, "")
    auth = merged.get("auth")
    config = _apply_version(config, scopes_given=isinstance(auth, dict) and "scopes" in auth)
    _check_values(config)
    return dataclasses.replace(config, auth=resolve_auth(config.auth, base_dir or Path.cwd()))


def env_names() -> dict[str, str]:
    """Every environment variable the loader reads, mapped to the config key it sets."""
    return {name: ".".join(path) for name, path in _env_paths(Config, ()).items()}


# Decimal and binary multiples as written in config files: 512KB is 512,000 bytes, 32MiB 33,554,432.
def size_bytes(raw: object, key: str) -> int:
    """A byte size from config: a positive integer (bytes) or a string such as `32MiB`, `512KB`, `1GiB`."""
    value = units.size(raw)
    if value is None:
        raise ConfigError(f"{key}: must be a positive size like 512KiB, 32MiB or 1GiB (or bytes), not {raw!r}")
    return value


def _apply_version(config: Config, *, scopes_given: bool) -> Config:
    """Check `api.version`, pick default scopes for it, and check v3 job selectors against its codes."""
    version = document.choice(config.api.version, "api.version", API_VERSIONS)
    config = _canonical_jobs(config)
    config = _canonical_seat_types(config)
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


def _canonical_seat_types(config: Config) -> Config:
    """`endpoints.seat_tenant_types` as the seats route's type names, each once, in the order given."""
    names: list[str] = []
    for index, given in enumerate(config.endpoints.seat_tenant_types):
        number = codes.code(codes.TENANT_TYPES, given)
        if number is None or number not in codes.TENANT_TYPES:
            known = ", ".join(f"{n} ({name})" for n, name in codes.TENANT_TYPES.items())
            raise ConfigError(f"endpoints.seat_tenant_types[{index}]: {given!r} is no tenant type; use one of: {known}")
        if codes.TENANT_TYPES[number] not in names:
            names.append(codes.TENANT_TYPES[number])
    if tuple(names) == config.endpoints.seat_tenant_types:
        return config
    endpoints = dataclasses.replace(config.endpoints, seat_tenant_types=tuple(names))
    return dataclasses.replace(config, endpoints=endpoints)


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
                raise ConfigError(f"{part}: must be a mapping, not {document.kind(child)}")
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
    known = {f.name: f for f in _fields(cls)}
    data = document.mapping(data, where, known)
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for name, f in known.items():
        key = document.key(where, name)
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key}: required")
            continue
        raw = data[name]
        if f.metadata.get("size"):
            values[name] = _named(raw, functools.partial(_size, raw, key))
            continue
        values[name] = _convert(hints[name], raw, key, duration=bool(f.metadata.get("duration")))
    return cls(**values)


def _yaml_scalar(value: _EnvValue, key: str) -> object:
    try:
        return yaml.safe_load(value.text)
    except (yaml.YAMLError, *document.UNBUILDABLE):
        raise ConfigError(f"{value.name} (for {key}): not valid YAML") from None


def _convert(hint: Any, raw: object, key: str, *, duration: bool = False) -> Any:
    return _named(raw, lambda: _convert_value(hint, raw, key, duration=duration))


def _size(raw: object, key: str) -> int:
    return size_bytes(_yaml_scalar(raw, key) if isinstance(raw, _EnvValue) else raw, key)


def _named(raw: object, convert: Callable[[], Any]) -> Any:
    """`convert()`; a value from the environment that it refuses names its variable, which the file may
    not mention at all."""
    if not isinstance(raw, _EnvValue):
        return convert()
    try:
        return convert()
    except ConfigError as exc:
        text = str(exc)
        raise ConfigError(text if text.startswith(raw.name) else f"{raw.name}: {text}") from None


def _convert_value(hint: Any, raw: object, key: str, *, duration: bool = False) -> Any:
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
            raise ConfigError(f"{key}: must be a list, not {document.kind(raw)}")
        return tuple(_convert(item, v, f"{key}[{i}]") for i, v in enumerate(raw))
    if origin is Mapping:
        raw = _yaml_scalar(env, key) if env is not None else raw
        return _outcome_map(raw, key)
    if env is not None:
        raw = env.text if hint is str else _yaml_scalar(env, key)
    if duration:
        return _duration_value(raw, key)
    if hint is str:
        return document.string(raw, key)
    if hint is bool:
        return document.boolean(raw, key)
    if hint in (int, float):
        return hint(document.number(raw, key, integer=hint is int))
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
    out: dict[str, Outcome] = {}
    choices = ", ".join(o.value for o in Outcome)
    for status, outcome in document.mapping_of(raw, key, "status to outcome").items():
        try:
            out[codes.normalize_status(str(status))] = Outcome(str(outcome))
        except ValueError:
            raise ConfigError(f"{key}.{status}: outcome must be one of {choices}, not {outcome!r}") from None
    return types.MappingProxyType(out)


def _check_url(url: str, key: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # Shown without user info and query: the value may carry a credential.
        raise ConfigError(f"{key}: must be an http(s) URL, not {safe.public_url(url)!r}")


def _at_least(key: str, value: float, low: int) -> None:
    if value < low:
        raise ConfigError(f"{key}: must be at least {low}, not {value}")


def _check_values(config: Config) -> None:
    """What the types alone do not say: URLs, lower bounds, and the parts of auth that are not secrets."""
    api, auth = config.api, config.auth
    _check_url(api.base_url, "api.base_url")
    _check_url(api.token_url, "api.token_url")
    for key, value, low in (
        ("api.max_concurrency", api.max_concurrency, 1),
        ("api.retries", api.retries, 0),
        ("api.max_json_values", api.max_json_values, 1),
        ("api.max_pages", api.max_pages, 1),
        ("jobs.max_per_customer", config.jobs.max_per_customer, 1),
        ("scan_profiles.max_per_customer", config.scan_profiles.max_per_customer, 1),
    ):
        _at_least(key, value, low)
    if api.max_requests_per_second <= 0:
        raise ConfigError("api.max_requests_per_second: must be greater than 0")
    _at_least("web.max_connections", config.web.max_connections, 1)
    _at_least("web.auth_failures_per_minute", config.web.auth_failures_per_minute, 1)
    if not auth.client_id:
        raise ConfigError("auth.client_id: required")
    if not auth.scopes:
        raise ConfigError("auth.scopes: must name at least one scope")
