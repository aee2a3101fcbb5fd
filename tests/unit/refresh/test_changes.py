"""What a config change makes due: the rule a reload follows, one change at a time."""

from __future__ import annotations

from typing import Any

import pytest

from exporter import config
from exporter.refresh.changes import Due, due

BASE: dict[str, Any] = {"auth": {"client_id": "a", "client_secret": "b"}}


def _with(section: str, values: dict[str, Any]) -> config.Config:
    return config.from_mapping({**BASE, section: {**BASE.get(section, {}), **values}})


@pytest.mark.parametrize(
    ("section", "values", "expected"),
    [
        ("api", {"base_url": "https://graph-de.avepointonlineservices.com"}, Due(everything=True)),
        ("api", {"version": "v3"}, Due(everything=True)),
        ("auth", {"client_id": "other"}, Due(everything=True)),
        ("cache", {"ttl": "10m"}, Due(everything=True)),
        ("customers", {"exclude": ["c-1"]}, Due(listing=True)),
        ("jobs", {"select": [{"job_type": "Microsoft 365", "job_module": "Exchange Online"}]}, Due(customers=True)),
        ("endpoints", {"protected": True}, Due(customers=True)),
        ("endpoints", {"services": True}, Due(services=True)),
        ("jobs", {"expected_interval": "12h"}, Due()),
        ("jobs", {"status_outcomes": {"Skipped": "failed"}}, Due()),
        ("api", {"timeout": "30s", "retries": 1}, Due()),
        ("auth", {"client_secret": "rotated"}, Due()),
        ("web", {"max_connections": 8}, Due()),
    ],
)
def test_a_change_makes_due_only_what_it_affects(section: str, values: dict[str, Any], expected: Due) -> None:
    old = config.from_mapping(BASE)
    assert due(old, _with(section, values)) == expected
    assert due(old, old) == Due()
