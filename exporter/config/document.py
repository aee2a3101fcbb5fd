"""What both config files share: one YAML reader, and strict checks whose messages start with the key path.

Every message names where the value is (`api.retries: ...`, `tls_server_config.cert_file: ...`, `unknown key
jobs.select[0].x (...)`), never repeats a value that may be secret beyond what the check needs, and is the
same words for the same fault in either file.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml

from exporter.errors import ConfigError

# PyYAML's constructors raise these for values it parsed but cannot build ("2025-13-45", "!!int x").
UNBUILDABLE = (ValueError, AttributeError, RecursionError)


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
    except UNBUILDABLE as exc:
        raise ConfigError(f"{what} {path}: YAML value that cannot be read ({exc.__class__.__name__})") from None


def read_mapping(path: Path, what: str) -> dict[str, Any]:
    """A config file's top-level mapping; an empty file is an empty mapping."""
    return top_level(read_yaml(path, what), f"{what} {path}")


def top_level(data: object, source: str = "") -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source + ': ' if source else ''}the top level must be a mapping of keys, not {kind(data)}")
    return data


def kind(value: object) -> str:
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def key(where: str, name: object) -> str:
    """The path of `name` inside `where` ("" is the top level)."""
    return f"{where}.{name}" if where else str(name)


def mapping(raw: object, where: str, known: Collection[str]) -> dict[str, Any]:
    """A section: a mapping with only `known` keys (names as strings); empty (`api:`) is an empty one."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where or 'the top level'}: must be a mapping, not {kind(raw)}")
    data = {str(k): v for k, v in raw.items()}
    unknown = sorted(set(data) - set(known))
    if unknown:
        listed = ", ".join(key(where, k) for k in unknown)
        raise ConfigError(f"unknown key {listed} (known here: {', '.join(sorted(known))})")
    return data


def mapping_of(raw: object, where: str, what: str) -> dict[Any, Any]:
    """A mapping whose keys are data (user names, header names, job statuses), described as `what`."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping of {what}, not {kind(raw)}")
    return raw


def string(raw: object, where: str) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ConfigError(f"{where}: must be a string, not {kind(raw)}")
    return raw


def boolean(raw: object, where: str) -> bool:
    if not isinstance(raw, bool):
        raise ConfigError(f"{where}: must be true or false, not {raw!r}")
    return raw


def number(raw: object, where: str, *, integer: bool) -> float:
    if (
        isinstance(raw, bool)
        or not isinstance(raw, int | float)
        or (integer and isinstance(raw, float))
        or not math.isfinite(raw)
    ):
        raise ConfigError(f"{where}: must be {'an integer' if integer else 'a finite number'}, not {raw!r}")
    return raw


def choice(value: str, where: str, choices: Collection[str]) -> str:
    if value not in choices:
        raise ConfigError(f"{where}: must be one of {', '.join(choices)}, not {value!r}")
    return value
