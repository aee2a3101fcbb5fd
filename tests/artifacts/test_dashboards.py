"""The Grafana dashboards: committed JSON is the generator's output, and every panel follows the conventions."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import generate
from tests.support import ROOT

README = (ROOT / "README.md").read_text()
DASHBOARDS = generate.build()
UIDS = {"avepoint-fleet.json": "avepoint-fleet", "avepoint-customer.json": "avepoint-customer"}
UIDS["avepoint-exporter.json"] = "avepoint-exporter"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SAMPLE_VALUES = {"organization": "Contoso Ltd", "customer_id": "abc", "job": "avepoint", "instance": "host:9877"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "group_left", "group_right", "inf", "nan"}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels that show data: rows left out, panels inside collapsed rows included."""
    return [p for p in generate.all_panels(dashboard) if p["type"] != "row"]


def every_query() -> list[tuple[str, str, str]]:
    return [(name, title, expr) for name, d in DASHBOARDS.items() for title, expr in generate.panel_queries(d)]


def documented_metrics() -> set[str]:
    """Metric names of the README's Metrics table, with the series a histogram adds."""
    body = README.split("## Metrics\n", 1)[1].split("\n## ", 1)[0]
    names = set()
    for name, meaning in re.findall(r"^\| `([a-z_]+)` \|[^|]*\|([^|]*)\|$", body, flags=re.MULTILINE):
        names.add(name)
        if "histogram" in meaning:
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def recorded_series() -> set[str]:
    """The names the shipped recording rules record (alerts/README.md documents them)."""
    groups = yaml.safe_load((ROOT / "alerts" / "avepoint-backup.rules.yml").read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (strings, matchers, ranges and label lists removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    tokens = re.findall(r"(?<![\w.])([a-zA-Z_:][\w:]*)\s*(\(?)", expr)
    return {token for token, call in tokens if not call and token not in KEYWORDS}


def balanced(expr: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for char in re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack and expr.count('"') % 2 == 0


def test_the_committed_json_is_the_generators_output() -> None:
    for name, dashboard in DASHBOARDS.items():
        committed = (ROOT / "dashboards" / name).read_text()
        assert committed == generate.render(dashboard), f"dashboards/{name} is stale: run python dashboards/generate.py"
    assert generate.main(["--check"]) == 0


def test_check_names_a_file_that_differs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(generate, "HERE", tmp_path)
    assert generate.main([]) == 0
    assert generate.main(["--check"]) == 0
    path = tmp_path / "avepoint-customer.json"
    path.write_text(path.read_text().replace('"refresh": "1m"', '"refresh": "5s"'))
    assert generate.main(["--check"]) == 1
    assert "dashboards/avepoint-customer.json" in capsys.readouterr().err


def test_output_is_stable_and_formatted() -> None:
    for dashboard in DASHBOARDS.values():
        text = generate.render(dashboard)
        assert text.endswith("}\n")
        assert text.splitlines()[1].startswith('  "')
        assert text == generate.render(json.loads(text))
    assert generate.build() == DASHBOARDS


@pytest.mark.parametrize("name", sorted(UIDS))
def test_dashboard_settings(name: str) -> None:
    d = DASHBOARDS[name]
    assert d["uid"] == UIDS[name]
    assert d["title"]
    assert d["description"]
    assert d["tags"] == ["avepoint", "backup"]
    assert d["schemaVersion"] == 39
    assert d["refresh"] == "1m"
    assert d["time"] == {"from": "now-6h" if name == "avepoint-exporter.json" else "now-7d", "to": "now"}
    assert "__inputs" not in d
    assert "__requires" not in d
    variable = d["templating"]["list"][0]
    assert (variable["name"], variable["type"], variable["query"]) == ("datasource", "datasource", "prometheus")
    assert any(link["type"] == "dashboards" and link["tags"] == ["avepoint", "backup"] for link in d["links"])


def test_every_panel_and_target_and_variable_uses_the_datasource_variable() -> None:
    for d in DASHBOARDS.values():
        for p in panels(d):
            assert p["datasource"] == DATASOURCE, p["title"]
            assert p["targets"], p["title"]
            for t in p["targets"]:
                assert t["datasource"] == DATASOURCE, p["title"]
        for variable in d["templating"]["list"][1:]:
            assert variable["datasource"] == DATASOURCE


def test_every_panel_has_a_description_a_unit_and_a_place() -> None:
    for d in DASHBOARDS.values():
        ids = [p["id"] for p in generate.all_panels(d)]
        assert len(ids) == len(set(ids))
        for p in panels(d):
            assert p["description"].strip(), p["title"]
            assert p["fieldConfig"]["defaults"]["unit"], p["title"]
            pos = p["gridPos"]
            assert pos["x"] + pos["w"] <= 24, p["title"]


def test_tables_use_instant_table_queries_and_known_columns() -> None:
    for d in DASHBOARDS.values():
        for p in panels(d):
            if p["type"] != "table":
                continue
            ref_ids = {t["refId"] for t in p["targets"]}
            assert all(t["instant"] and t["format"] == "table" for t in p["targets"]), p["title"]
            organize = next(t for t in p["transformations"] if t["id"] == "organize")["options"]
            for column in organize["indexByName"]:
                value = re.fullmatch(r"Value #([A-Z])", column)
                assert value is None or value[1] in ref_ids, (p["title"], column)


def test_rates_use_the_rate_interval() -> None:
    for name, title, expr in every_query():
        if re.search(r"\b(?:rate|irate|increase)\(", expr):
            windows = set(re.findall(r"\[([^\]]*)\]", expr))
            if name == "avepoint-report.json":
                # A report counts over the period picked ($__range) or per day, never over a scrape interval.
                assert windows and windows <= {"$__range", "1d", "$__range:5m"}, (name, title, expr)
            else:
                assert windows == {"$__rate_interval"}, (name, title, expr)


def test_every_metric_is_one_the_exporter_documents() -> None:
    documented = documented_metrics() | recorded_series()
    assert "avepoint_backup_job_objects" in documented
    assert "avepoint_api_request_duration_seconds_bucket" in documented
    used: set[str] = set()
    for name, title, expr in every_query():
        names = metric_names(generate.substitute(expr, SAMPLE_VALUES))
        assert names, (name, title, expr)
        for metric in names:
            assert metric in documented or metric == "up" or metric.startswith("process_"), (name, title, metric)
        used |= names
    assert {"avepoint_backup_job_status", "avepoint_customer_info", "up"} <= used


def test_metric_names_ignores_labels_functions_and_keywords() -> None:
    expr = 'sum by (le) (rate(a_bucket{job=~"x"}[1m])) or on() vector(0) > bool 1.5 * b offset 1h'
    assert metric_names(expr) == {"a_bucket", "b"}


def test_queries_use_only_their_dashboards_variables() -> None:
    for name, d in DASHBOARDS.items():
        defined = {v["name"] for v in d["templating"]["list"]}
        for title, expr in generate.panel_queries(d):
            used = set(re.findall(r"\$\{?(\w+)", expr)) - {"__rate_interval", "__interval", "__range"}
            assert used <= defined, (name, title, used - defined)


def test_substitute_leaves_no_variable_and_balanced_expressions() -> None:
    for name, title, expr in every_query():
        assert balanced(expr), (name, title, expr)
        result = generate.substitute(expr, SAMPLE_VALUES, rate_interval="1m")
        assert "$" not in result, (name, title, result)
        assert balanced(result), (name, title, result)


def test_substitute_forms() -> None:
    values = {"organization": 'A.B "C"', "customer_id": "abc"}
    expr = 'x{o="$organization", c="${customer_id}", r=~"${organization:regex}", j=~"$job"}[$__rate_interval]'
    assert generate.substitute(expr, values, rate_interval="2m") == (
        r'x{o="A.B \"C\"", c="abc", r=~"A\\.B \"C\"", j=~".+"}[2m]'
    )
    assert generate.substitute("[$__interval] [$__range] ${customer_id:raw}", values) == "[15s] [1h] abc"
    with pytest.raises(KeyError, match="customer_id"):
        generate.substitute('x{c="$customer_id"}', {})
    with pytest.raises(KeyError, match="__interval_ms"):
        generate.substitute("$__interval_ms", values)


def test_panel_queries_reach_into_collapsed_rows() -> None:
    queries = generate.panel_queries(DASHBOARDS["avepoint-exporter.json"])
    collapsed = [p for p in DASHBOARDS["avepoint-exporter.json"]["panels"] if p["type"] == "row" and p["collapsed"]]
    assert collapsed
    assert {p["title"] for p in collapsed[0]["panels"]} <= {title for title, _ in queries}


def test_fleet_links_to_the_customer_dashboard_and_its_variables() -> None:
    fleet = DASHBOARDS["avepoint-fleet.json"]
    links = [
        link["url"]
        for p in panels(fleet)
        for override in p["fieldConfig"]["overrides"]
        for prop in override["properties"]
        if prop["id"] == "links"
        for link in prop["value"]
    ]
    assert links
    assert all(
        url.startswith("/d/avepoint-customer/avepoint-customer?var-organization=${__data.fields.organization")
        for url in links
    )
    variables = {v["name"]: v for v in DASHBOARDS["avepoint-customer.json"]["templating"]["list"]}
    assert variables["organization"]["definition"] == (
        'label_values(avepoint_customer_info{job=~"$job", instance=~"$instance"}, organization)'
    )
    assert variables["customer_id"]["hide"] == 2
    assert "$organization" in variables["customer_id"]["definition"]
    exporter = {v["name"]: v for v in DASHBOARDS["avepoint-exporter.json"]["templating"]["list"]}
    assert exporter["job"]["definition"] == "label_values(avepoint_exporter_build_info, job)"


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_every_query_parses(tmp_path: Path) -> None:
    # promtool has no offline query parser, but checking recording rules parses their expressions.
    rules = [
        {"record": f"dashboard:query:{i}", "expr": generate.substitute(expr, SAMPLE_VALUES)}
        for i, (_, _, expr) in enumerate(every_query())
    ]
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboards", "rules": rules}]}))
    check = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
