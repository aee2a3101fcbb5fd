"""Config's own durations and sizes: the documented forms, and nothing of the API's grammar."""

from __future__ import annotations

import pytest

from exporter import config, units
from exporter.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("24h", 86400), ("7d", 604800), ("1w", 604800), ("1h30m", 5400),
     ("1d2h3m4s", 93784), ("500ms", 0.5), ("0.5s", 0.5), ("1.5h", 5400), (" 10s ", 10), ("15", 15), (2.5, 2.5)],
)  # fmt: skip
def test_documented_durations(text: object, seconds: float) -> None:
    assert units.duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["1.16:00:44", "01:02:03", "PT1H", "17m39", "s", "", "0s", "-5s", "5x", "1m1h", True, None, [], float("inf")],
)
def test_what_only_the_api_writes_or_nothing_writes_is_no_config_duration(text: object) -> None:
    assert units.duration(text) is None


def test_cache_ttl_refuses_a_dotnet_timespan() -> None:
    with pytest.raises(ConfigError, match=r"cache\.ttl: must be a positive duration"):
        config.from_mapping({"auth": {"client_id": "a", "client_secret": "b"}, "cache": {"ttl": "1.16:00:44"}})


@pytest.mark.parametrize(
    ("text", "size"),
    [("32MiB", 32 * 2**20), ("512KB", 512_000), ("1GiB", 2**30), ("1.5 kib", 1536), (4096, 4096), ("10", 10)],
)
def test_sizes(text: object, size: int) -> None:
    assert units.size(text) == size


@pytest.mark.parametrize("text", ["0", "-1MiB", "1 TB", "MiB", "", True, 0, 1e400, "9" * 400])
def test_no_size(text: object) -> None:
    assert units.size(text) is None
