"""The alert rules, their unit tests and the Alertmanager example, checked with the real tools."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.support import ROOT

ALERTS = ROOT / "alerts"
RULES = ALERTS / "avepoint-backup.rules.yml"
# Every promtool unit-test file: one per area (the backup jobs and the exporter; the scan profiles).
UNIT_TESTS = sorted((ALERTS / "tests").glob("*.test.yml"))
# The alerts that fire when something is missing, so that no other alert can go silent unnoticed.
ABSENCE_ALERTS = {"AvePointExporterAbsent", "AvePointBackupJobsAbsent"}


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ALERTS.parent)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is installed by tests/run")
def test_promtool_check_rules() -> None:
    result = run("promtool", "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is installed by tests/run")
def test_promtool_unit_tests_pass() -> None:
    assert len(UNIT_TESTS) >= 2
    result = run("promtool", "test", "rules", *map(str, UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool is installed by tests/run")
def test_amtool_check_config() -> None:
    result = run("amtool", "check-config", str(ALERTS / "alertmanager.example.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout


def test_every_alert_follows_the_conventions() -> None:
    runbook = (ALERTS / "README.md").read_text()
    anchors = {"#" + h.lower() for h in re.findall(r"^## (\S+)$", runbook, flags=re.MULTILINE)}
    rules = alert_rules()
    assert len(rules) >= 10
    for rule in rules:
        name = rule["alert"]
        assert name.startswith("AvePoint"), name
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert "{{" not in rule["annotations"]["summary"], f"{name}: summary must be static"
        assert "{{" in rule["annotations"]["description"], f"{name}: description must be templated"
        url = rule["annotations"]["runbook_url"]
        assert url.endswith("alerts/README.md" + url[url.index("#") :]) and url[url.index("#") :] in anchors, name
        assert rule.get("for"), f"{name}: needs a for: so one bad evaluation never pages"
        if name in ABSENCE_ALERTS:
            # What is absent has no customer to name; the alert is per exporter (job, instance).
            assert "absent(" in rule["expr"] or "unless on (job, instance)" in rule["expr"], name
        elif "customer_id" in rule["expr"] or "avepoint_backup_job" in rule["expr"]:
            # Job and customer alerts name the organization (joined from avepoint_customer_info).
            assert "group_left (organization)" in rule["expr"], name
            assert "$labels.organization" in rule["annotations"]["description"], name


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    cases = [case for path in UNIT_TESTS for case in yaml.safe_load(path.read_text())["tests"]]
    fires: set[str] = set()
    silent: set[str] = set()
    for case in cases:
        for check in case.get("alert_rule_test", []):
            (fires if check["exp_alerts"] else silent).add(check["alertname"])
            for alert in check["exp_alerts"]:
                assert set(alert["exp_annotations"]) == {"summary", "description", "runbook_url"}
    names = {rule["alert"] for rule in alert_rules()}
    assert names == fires, names ^ fires
    assert names == silent, names ^ silent


def test_runbook_documents_every_alert() -> None:
    text = (ALERTS / "README.md").read_text()
    for rule in alert_rules():
        section = text.split(f"## {rule['alert']}\n", 1)[1].split("\n## ", 1)[0]
        for part in ("**Meaning.**", "**Likely causes.**", "**Fix.**"):
            assert part in section, (rule["alert"], part)


def test_no_alert_can_go_silent() -> None:
    """The exporter's target and its job metrics each have an alert for their absence."""
    by_name = {rule["alert"]: rule for rule in alert_rules()}
    assert set(by_name) >= ABSENCE_ALERTS
    assert "absent(up{" in by_name["AvePointExporterAbsent"]["expr"]
    assert "avepoint_backup_job_status" in by_name["AvePointBackupJobsAbsent"]["expr"]


def test_failed_objects_are_judged_by_their_share() -> None:
    """A ratio of failed to processed objects, with a floor on the job size, not only a count above zero."""
    expr = {rule["alert"]: rule for rule in alert_rules()}["AvePointBackupJobFailedObjectsRatio"]["expr"]
    assert re.search(r"avepoint_backup_job_failed_objects\s*/ on \(.*?\)\s*avepoint_backup_job_objects > 0\.\d+", expr)
    assert re.search(r"avepoint_backup_job_objects >= \d+", expr)
