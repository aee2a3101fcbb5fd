"""The grafana.com form of each dashboard: the generator's output, in Grafana's export-for-sharing shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dashboards import generate
from tests.support import ROOT

EXPORTS = generate.build_exports()
SHARED = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}


def strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return [node] if isinstance(node, str) else []


def test_the_committed_exports_are_the_generators_output() -> None:
    assert sorted(EXPORTS) == sorted(generate.build())
    for name, dashboard in EXPORTS.items():
        path = ROOT / "dashboards" / "grafana.com" / name
        assert path.read_text() == generate.render(dashboard), f"{path} is stale: run python dashboards/generate.py"


def test_check_names_a_stale_export(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr(generate, "HERE", tmp_path)
    assert generate.main([]) == 0
    path = tmp_path / "grafana.com" / "avepoint-fleet.json"
    path.write_text(path.read_text().replace("DS_PROMETHEUS", "DS_PROM", 1))
    assert generate.main(["--check"]) == 1
    assert "dashboards/grafana.com/avepoint-fleet.json" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_the_export_for_sharing_form(name: str) -> None:
    d = EXPORTS[name]
    assert d["__inputs"] == [
        {
            "description": "The Prometheus that scrapes the AvePoint backup exporter",
            "label": "Prometheus",
            "name": "DS_PROMETHEUS",
            "pluginId": "prometheus",
            "pluginName": "Prometheus",
            "type": "datasource",
        }
    ]
    requires = {(r["type"], r["id"]) for r in d["__requires"]}
    panel_types = {p["type"] for p in generate.all_panels(d) if p["type"] != "row"}
    assert requires == {("grafana", "grafana"), ("datasource", "prometheus")} | {("panel", t) for t in panel_types}
    assert all(r["name"] and "version" in r for r in d["__requires"])
    assert d["id"] is None
    # Every datasource reference is the input; no trace of the provisioning form's datasource variable.
    panels = list(generate.all_panels(d))
    refs = [p["datasource"] for p in panels if p["type"] != "row"]
    refs += [t["datasource"] for p in panels for t in p.get("targets", [])]
    refs += [v["datasource"] for v in d["templating"]["list"]]
    assert refs and all(ref == SHARED for ref in refs)
    assert "datasource" not in {v["name"] for v in d["templating"]["list"]}
    assert not [s for s in strings(d) if "$datasource" in s or "${datasource" in s]
    # The rest is the provisioning form's dashboard: same uid, panels and queries.
    provisioning = generate.build()[name]
    assert d["uid"] == provisioning["uid"]
    assert generate.panel_queries(d) == generate.panel_queries(provisioning)
    assert json.dumps(d).replace("${DS_PROMETHEUS}", "${datasource}").count("${datasource}") == json.dumps(
        provisioning
    ).count('"uid": "${datasource}"')


def test_the_provisioning_form_has_no_import_inputs() -> None:
    for d in generate.build().values():
        assert "__inputs" not in d and "__requires" not in d
