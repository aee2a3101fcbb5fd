"""The monitoring mixin: evaluated with the jsonnet package, it is the shipped rules and dashboards."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mixin import render
from tests.support import ROOT

pytest.importorskip("_jsonnet", reason="the jsonnet package is in the test extra")

DASHBOARDS = ROOT / "dashboards"


def alerts_by_name(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for group in document["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                out.setdefault(rule["alert"], []).append(rule)
    return out


def promtool_check(text: str, tmp_path: Path) -> None:
    path = tmp_path / "mixin.rules.yml"
    path.write_text(text)
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mixin_has_the_four_fields_consumers_read() -> None:
    fields = render.evaluate('std.objectFieldsAll(import "mixin/mixin.libsonnet")')
    assert {"_config", "prometheusAlerts", "prometheusRules", "grafanaDashboards"} <= set(fields)


def test_shipped_rules_are_the_mixin_rendered_with_its_defaults() -> None:
    """One source: alerts/avepoint-backup.rules.yml is exactly what mixin/render.py writes."""
    shipped = (ROOT / "alerts" / "avepoint-backup.rules.yml").read_text()
    assert shipped == render.render(), "alerts/avepoint-backup.rules.yml is stale: run python3 mixin/render.py"
    assert yaml.safe_load(shipped) == render.rules_document()
    assert render.main(["--check"]) == 0


def test_mixin_dashboards_are_the_generated_json() -> None:
    dashboards = render.evaluate('(import "mixin/mixin.libsonnet").grafanaDashboards')
    files = {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}
    assert set(dashboards) == set(files), "list every dashboards/*.json in mixin/dashboards.libsonnet"
    for name, dashboard in files.items():
        assert dashboards[name] == dashboard, name


def test_config_drives_selector_thresholds_and_intervals() -> None:
    """_config is not decoration: each setting shows up in the rules, and nothing else moves."""
    overrides = {
        "exporterSelector": 'job="backup", namespace="monitoring"',
        "failedObjectsRatio": 0.2,
        "failedObjectsMinObjects": 1000,
        "capacityRatio": 0.75,
        "subscriptionWarningDays": 45,
        "exporterAbsentFor": "30m",
        "apiRateWindow": "30m",
        "successRatioLow": 0.8,
        "successRatioFor": "3h",
    }
    default = alerts_by_name(render.rules_document())
    tuned = alerts_by_name(render.rules_document(overrides))
    assert set(default) == set(tuned)
    for name in ("AvePointExporterDown", "AvePointExporterAbsent", "AvePointBackupJobsAbsent"):
        assert 'up{job="backup", namespace="monitoring"}' in tuned[name][0]["expr"], name
        assert "avepoint-backup-exporter" not in tuned[name][0]["expr"], name
    ratio = tuned["AvePointBackupJobFailedObjectsRatio"][0]["expr"]
    assert "avepoint_backup_job_objects > 0.2\n" in ratio and "avepoint_backup_job_objects >= 1000\n" in ratio
    assert "> 0.75\n" in tuned["AvePointCapacityNearlyFull"][0]["expr"]
    assert "over 75% of" in tuned["AvePointCapacityNearlyFull"][0]["annotations"]["summary"]
    warning = tuned["AvePointSubscriptionExpiring"][0]
    assert "< 45 * 86400" in warning["expr"] and "45 days" in warning["annotations"]["summary"]
    assert tuned["AvePointExporterAbsent"][0]["for"] == "30m"
    assert "[30m]" in tuned["AvePointApiThrottled"][0]["expr"]
    ratio = tuned["AvePointBackupSuccessRatioLow"][0]
    assert "  < 0.8\n" in ratio["expr"] and ratio["for"] == "3h"
    assert "under 80% of" in ratio["annotations"]["summary"] and "80%" in ratio["annotations"]["description"]
    # Untouched settings leave their alerts as they were.
    assert tuned["AvePointBackupStale"] == default["AvePointBackupStale"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is installed by tests/run")
def test_promtool_accepts_the_mixin_output(tmp_path: Path) -> None:
    promtool_check(render.render(), tmp_path)
    promtool_check(render.render({"exporterSelector": 'job=~"avepoint.*"', "failedObjectsRatio": 0.01}), tmp_path)
