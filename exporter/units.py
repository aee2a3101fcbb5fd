"""Durations and byte sizes as the configuration writes them (`30s`, `5m`, `24h`, `7d`; `32MiB`), nothing else.

Config has a grammar of its own, Prometheus' style, and not the API's: the API parser also takes `01:02:03`,
`1.16:00:44` and ISO 8601, which a config key documented as `30s/5m/24h/7d` must refuse.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping

# Prometheus' units but y (a year has no fixed length), combined from the largest unit down as in `1h30m`;
# unlike Prometheus, a part may have decimals (`0.5s`, `1.5h`), as this exporter has always taken them.
_N = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(rf"(?:{_N}w)?(?:{_N}d)?(?:{_N}h)?(?:{_N}m(?!s))?(?:{_N}s)?(?:{_N}ms)?")
_DURATION_SECONDS = (7 * 86400, 86400, 3600, 60, 1, 0.001)

SIZE_UNITS: Mapping[str, int] = types.MappingProxyType(
    {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
)
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)


def duration(raw: object) -> float | None:
    """Seconds from `30s`, `5m`, `24h`, `7d`, `1w`, `500ms` or a combination (`1h30m`), or a plain number of
    seconds; None when it is none of these or not positive."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw) if 0 < raw < float("inf") else None
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if re.fullmatch(_N, text):  # a bare number is seconds, as in YAML or an environment variable
        text += "s"
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        return None
    seconds = sum(float(part) * unit for part, unit in zip(match.groups(), _DURATION_SECONDS, strict=True) if part)
    return float(seconds) if seconds > 0 else None


def size(raw: object) -> int | None:
    """Bytes from a positive integer or a string such as `32MiB`, `512KB`, `1GiB`; None when it is neither."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return raw
    match = _SIZE.fullmatch(raw) if isinstance(raw, str) else None
    unit = SIZE_UNITS.get(match.group(2).lower()) if match else None
    number = float(match.group(1)) * unit if match and unit else 0.0  # 400 digits: inf, refused below
    return int(number) if 1 <= number < 2**63 else None
