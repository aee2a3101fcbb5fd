"""Fuzzing the config loader: whatever YAML-like data and AVEPOINT_* environment it gets, the result is a
Config or a ConfigError, never another exception (which would end the exporter with a traceback)."""

from __future__ import annotations

import dataclasses
import datetime
import math
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exporter import config
from exporter.errors import ConfigError
from tests.support import make_cert


def _sections() -> dict[str, list[str]]:
    """Every config key, by section, read from the dataclasses so new keys are fuzzed too."""
    hints = typing.get_type_hints(config.Config)
    out: dict[str, list[str]] = {}
    for f in dataclasses.fields(config.Config):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            out[f.name] = [
                g.name for g in dataclasses.fields(typing.cast(type, hint)) if not g.metadata.get("internal")
            ]
        else:
            out[f.name] = []
    return out


SECTIONS = _sections()
KEY_NAMES = sorted({*SECTIONS, *(k for keys in SECTIONS.values() for k in keys), "job_type", "job_module", "interval"})
ENV_NAMES = sorted(config.env_names())
# Files that exist in the fuzz's base directory (secret files, keys, certificates), and names that do not.
FILE_NAMES = ["secret", "empty", "blank", "latin1", "dir", "key.pem", "cert.pem", "other-cert.pem", "garbage.pem"]
FILE_NAMES += ["missing", "dir/../secret", "", " ", "secret\x00", "\x00"]

# Strings with a meaning somewhere in the config, and strings that are trouble for a YAML scalar parser.
MEANINGFUL = [
    "30s", "5m", "24h", "7d", "1h30m", "0s", "-1s", "10", "1e400s", "legacy", "v3", "v2",
    "https://graph.avepointonlineservices.com", "http://127.0.0.1:1", "ftp://x", "http://", "not a url",
    "partner.customers.read.all", "success", "warning", "failed", "bogus", ":9877", "[::1]:80",
    "Microsoft 365", "Exchange Online", "303", "N/A",
]  # fmt: skip
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(MEANINGFUL + FILE_NAMES)
    | st.binary(max_size=8)  # YAML's !!binary
    | st.dates()  # YAML timestamps load as dates and datetimes
    | st.datetimes(timezones=st.none() | st.just(datetime.UTC))
)
keys = st.sampled_from(KEY_NAMES) | st.text(max_size=6) | st.integers(-3, 3) | st.booleans() | st.none()
anything = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=16,
)


def _field_values(section: str, key: str) -> st.SearchStrategy[Any]:
    if key.endswith("_file") or key == "ca_file":
        return st.sampled_from(FILE_NAMES) | anything
    if key == "select":
        selector = st.fixed_dictionaries(
            {}, optional={"job_type": st.sampled_from(MEANINGFUL) | anything, "job_module": anything}
        )
        return st.lists(selector | anything, max_size=3) | anything
    if key == "expected_interval_overrides":
        override = st.fixed_dictionaries(
            {}, optional={"interval": anything, "customer_id": anything, "job_type": anything, "job_module": anything}
        )
        return st.lists(override | anything, max_size=3) | anything
    if key == "status_outcomes":
        return (
            st.dictionaries(st.text(max_size=8) | keys, st.sampled_from(MEANINGFUL) | anything, max_size=3) | anything
        )
    return anything


def _section(name: str) -> st.SearchStrategy[Any]:
    known = SECTIONS[name]
    if not known:
        return st.sampled_from(FILE_NAMES) | anything
    fields = st.fixed_dictionaries({}, optional={k: _field_values(name, k) for k in known})
    stray = st.dictionaries(keys, anything, max_size=2)
    return st.one_of(fields, fields, st.tuples(fields, stray).map(lambda p: {**p[0], **p[1]}), anything)


# Most examples start from a working config and break parts of it, so validation runs deep.
structured = st.fixed_dictionaries({}, optional={name: _section(name) for name in SECTIONS})
near_valid = structured.map(
    lambda d: (
        {**d, "auth": {"client_id": "app", "client_secret": "s3cret", **(d.get("auth") or {})}}
        if isinstance(d.get("auth", {}), dict)
        else d
    )
)
documents = st.one_of(near_valid, near_valid, structured, anything)


# Includes YAML that parses but that PyYAML cannot construct: it raises ValueError, AttributeError, RecursionError.
YAML_TROUBLE = ["2025-13-45", "2025-02-30", "!!float x", "!!int x", "!!timestamp x", "[" * 600 + "]" * 600]
env_values = st.text(max_size=20) | st.sampled_from(
    [*MEANINGFUL, *YAML_TROUBLE, "[a, b]", "{a: 1}", "- x", "a, b", "~"]
)
# Mostly real names: an unknown AVEPOINT_ name ends validation at once.
env_keys = st.one_of(
    st.sampled_from(ENV_NAMES),
    st.sampled_from(ENV_NAMES),
    st.sampled_from(ENV_NAMES),
    st.text(max_size=8).map(lambda s: "AVEPOINT_" + s),
    st.text(max_size=6),
)
environments = st.dictionaries(env_keys, env_values, max_size=4)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("fuzz")
    (d / "secret").write_text("s3cret\n")
    (d / "empty").write_text("")
    (d / "blank").write_text("  \n\n")
    (d / "latin1").write_bytes(b"caf\xe9")
    (d / "dir").mkdir()
    (d / "garbage.pem").write_text("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    make_cert(d)  # key.pem, cert.pem
    other = d / "other"
    other.mkdir()
    make_cert(other)
    (d / "other-cert.pem").write_bytes((other / "cert.pem").read_bytes())
    yield d


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=documents, env=environments)
@example(data={"auth": {"client_id": "app", "client_secret_file": "secret"}}, env={})
@example(data={"auth": {"client_id": "app", "private_key_file": "key.pem", "certificate_file": "cert.pem"}}, env={})
@example(
    data={"auth": {"client_id": "app", "private_key_file": "key.pem", "certificate_file": "other-cert.pem"}}, env={}
)
@example(data={"auth": {"client_id": "app", "private_key_file": "garbage.pem", "certificate_thumbprint": "ab"}}, env={})
@example(data={"auth": {"client_id": "app", "client_secret_file": "latin1"}}, env={})
@example(data=[], env={"AVEPOINT_API_RETRIES": "x"})
@example(data={"api": "x"}, env={"AVEPOINT_API_RETRIES": "1"})
@example(data={"auth": {"client_id": "a", "client_secret": "b"}}, env={"AVEPOINT_JOBS_SELECT": "[{job_type: x}]"})
def test_from_mapping_returns_a_config_or_raises_config_error(base_dir: Path, data: Any, env: dict[str, str]) -> None:
    try:
        result = config.from_mapping(data, env=env, base_dir=base_dir)
    except ConfigError as exc:
        assert str(exc)  # a message that says what is wrong
        assert "s3cret" not in str(exc)  # and never the secret it read
        return
    assert isinstance(result, config.Config)


# --- what the fuzz found once (each escaped as a traceback, or slipped through), pinned down -----------------


def test_yaml_the_loader_cannot_construct_is_a_config_error(tmp_path: Path) -> None:
    escaped: list[str] = []
    base = {"auth": {"client_id": "app", "client_secret": "s3cret"}}
    for text in YAML_TROUBLE:
        try:
            config.from_mapping(base, env={"AVEPOINT_API_RETRIES": text})
        except ConfigError:
            pass
        except Exception as exc:
            escaped.append(f"env {text[:12]!r}: {type(exc).__name__}")
        path = tmp_path / "config.yml"
        path.write_text(f"auth: {{client_id: app, client_secret: s3cret}}\nstate_file: {text}\n")
        try:
            config.load(path, {})
        except ConfigError:
            pass
        except Exception as exc:
            escaped.append(f"file {text[:12]!r}: {type(exc).__name__}")
    assert not escaped, escaped


@pytest.mark.parametrize("key", ["client_secret_file", "private_key_file"])
def test_a_file_name_with_a_nul_byte_is_a_config_error(base_dir: Path, key: str) -> None:
    with pytest.raises(ConfigError, match=f"auth.{key}"):
        config.from_mapping({"auth": {"client_id": "app", key: "secret\x00"}}, base_dir=base_dir)


@given(rate=st.floats(allow_nan=True, allow_infinity=True))
@settings(max_examples=50, deadline=None)
@example(rate=math.nan)
@example(rate=math.inf)
def test_a_returned_request_rate_is_a_usable_number(rate: float) -> None:
    """A NaN rate once passed validation and switched the rate limiter off (NaN waits are never > 0)."""
    try:
        cfg = config.from_mapping(
            {"auth": {"client_id": "app", "client_secret": "s3cret"}, "api": {"max_requests_per_second": rate}}
        )
    except ConfigError:
        return
    assert math.isfinite(cfg.api.max_requests_per_second) and cfg.api.max_requests_per_second > 0
