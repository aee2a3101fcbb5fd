"""Every dashboard against Grafana's published schema: a round trip through grafana-foundation-sdk loses nothing."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from dashboards import generate

sdk = pytest.importorskip("grafana_foundation_sdk", reason="grafana-foundation-sdk is in the test extra")
from grafana_foundation_sdk.cog.encoder import JSONEncoder  # noqa: E402
from grafana_foundation_sdk.cog.plugins import register_default_plugins  # noqa: E402
from grafana_foundation_sdk.models.dashboard import Dashboard  # noqa: E402

register_default_plugins()  # decodes each panel type's options and field config with its own model

# Keys the schema does not model but Grafana writes and reads itself, so dropping them is harmless.
# A path uses [] for any list index.
HARMLESS = {
    # The query variable's query as text, which Grafana's variable editor shows; `query` holds the real one.
    ".templating.list[].definition",
    # The export-for-sharing envelope: Grafana's Import UI reads it (which data source to ask for, which plugins
    # the dashboard needs, library panels) and strips it; the dashboard schema itself has no place for it.
    ".__elements",
    ".__inputs",
    ".__requires",
    # `"id": null` in an export: the importing Grafana assigns the id; the SDK writes no null.
    ".id",
}


def differences(before: Any, after: Any, path: str = "") -> Iterator[str]:
    """Paths of keys `before` has and `after` lacks, and of values that changed (keys the SDK adds are fine)."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key, value in before.items():
            if key not in after:
                yield f"{path}.{key} dropped"
            else:
                yield from differences(value, after[key], f"{path}.{key}")
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (x, y) in enumerate(zip(before, after, strict=True)):
            yield from differences(x, y, f"{path}[{i}]")
    elif before != after:
        yield f"{path} changed from {json.dumps(before)} to {json.dumps(after)}"


def lost(dashboard: dict[str, Any]) -> list[str]:
    """What the schema does not keep of `dashboard`, harmless keys left out."""
    after = json.loads(json.dumps(Dashboard.from_json(copy.deepcopy(dashboard)), cls=JSONEncoder))
    found = []
    for difference in differences(dashboard, after):
        path = re.sub(r"\[\d+\]", "[]", difference.split(" ", 1)[0])
        if not (difference.endswith(" dropped") and path in HARMLESS):
            found.append(difference)
    return found


def exports() -> dict[str, dict[str, Any]]:
    """The provisioning form and, where the generator makes one, the grafana.com form of each dashboard."""
    forms = {f"dashboards/{name}": d for name, d in generate.build().items()}
    sharing = getattr(generate, "build_exports", None)
    if sharing is not None:
        forms |= {f"dashboards/grafana.com/{name}": d for name, d in sharing().items()}
    return forms


@pytest.mark.parametrize("name", sorted(exports()))
def test_the_schema_keeps_every_key(name: str) -> None:
    assert lost(exports()[name]) == [], name


def test_every_panel_type_has_a_schema_model() -> None:
    # A panel type without a model keeps its options undecoded, so a misspelling in them would pass unseen.
    from grafana_foundation_sdk.cog import runtime

    known = set(runtime.Runtime().panelcfg_variants)
    for d in generate.build().values():
        for p in generate.all_panels(d):
            assert p["type"] == "row" or p["type"] in known, p["type"]


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ("options", "fotter"),
        ("fieldConfig.defaults.custom", "filtreable"),
        ("fieldConfig.defaults", "unitt"),
        ("targets.0", "exrp"),
        ("gridPos", "ww"),
    ],
)
def test_a_misspelled_key_is_caught(where: str, key: str) -> None:
    dashboard = copy.deepcopy(generate.build()["avepoint-fleet.json"])
    table = next(p for p in generate.all_panels(dashboard) if p["type"] == "table")
    node: Any = table
    for step in where.split("."):
        node = node[int(step)] if step.isdigit() else node[step]
    node[key] = True
    assert [f for f in lost(dashboard) if f.endswith(f".{key} dropped")], (where, key)


def test_the_table_footer_is_not_an_option() -> None:
    # Grafana 12.2 moved the footer into the field config; the generator sets none (the default of both).
    for d in generate.build().values():
        for p in generate.all_panels(d):
            assert "footer" not in p.get("options", {}), p["title"]
