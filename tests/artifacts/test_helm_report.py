"""The chart's monthly report CronJob (off by default), rendered by the real Helm engine: its args are ones the
report command accepts, its secrets are mounted where the flags point, and its mistakes stop the render."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

from exporter import cli
from tests.artifacts.test_helm import FEATURES, NAMESPACE, Manifest, chart, chart_dir, get, render

__all__ = ["chart", "chart_dir"]  # the module's fixtures, shared with test_helm.py
URL = "https://prometheus.mon.svc:9090"


def cron(docs: list[Manifest]) -> dict[str, Any]:
    job: dict[str, Any] = get(docs, "CronJob")
    return job


def pod(docs: list[Manifest]) -> dict[str, Any]:
    spec: dict[str, Any] = cron(docs)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def test_off_by_default(chart: helm.Chart) -> None:
    assert not [d for d in render(chart) if d["kind"] == "CronJob"]


def test_monthly_for_the_previous_month_with_args_the_report_accepts(chart: helm.Chart) -> None:
    docs = render(chart, FEATURES["report"])
    job = cron(docs)
    assert job["metadata"]["namespace"] == NAMESPACE
    assert job["spec"]["schedule"] == "0 6 1 * *" and job["spec"]["concurrencyPolicy"] == "Forbid"
    (c,) = pod(docs)["containers"]
    args = cli.parser().parse_args(c["args"])
    assert args.command == "report"
    assert (args.prometheus_url, args.month, args.out, args.timezone) == (
        "http://prometheus-operated.mon.svc:9090",
        "previous",
        "/reports",
        "UTC",
    )
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/reports", "/tmp"}
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod(docs)["automountServiceAccountToken"] is False


def test_every_option_reaches_its_flag_and_secrets_are_files(chart: helm.Chart, tmp_path: Path) -> None:
    values = {
        "report": {
            "enabled": True,
            "schedule": "30 7 2 * *",
            "timeZone": "Europe/Berlin",
            "month": "2026-11",
            "prometheus": {
                "url": URL,
                "username": "reporter",
                "existingSecret": "prom-report",
                "passwordKey": "password",
                "caKey": "ca.crt",
            },
            # YAML's own characters: ": " made a map of an unquoted arg, " #" cut it as a comment.
            "mspName": "Contoso: Managed IT #1",
            "customers": ["c-1", "c-2: x"],
            "customerNames": {"c-1": "Alpha & Co", "c-2: x": "Fabrikam #1 Ltd", "c3": "'quoted' \"both\" \\ {x}"},
            "volume": {"persistentVolumeClaim": {"claimName": "reports"}},
            "extraArgs": ["--paper=letter"],
        }
    }
    docs = render(chart, values)
    assert cron(docs)["spec"]["timeZone"] == "Europe/Berlin"
    spec = pod(docs)
    (c,) = spec["containers"]
    args = cli.parser().parse_args(c["args"])
    assert args.prometheus_username == "reporter"
    assert args.prometheus_password_file == "/run/secrets/avepoint-report/password"
    assert args.prometheus_ca_file == "/run/secrets/avepoint-report/ca.crt"
    assert all(isinstance(a, str) for a in c["args"]), c["args"]
    assert (args.msp_name, args.customers) == ("Contoso: Managed IT #1", ["c-1", "c-2: x"])
    assert args.customer_names == ["c-1=Alpha & Co", "c-2: x=Fabrikam #1 Ltd", "c3='quoted' \"both\" \\ {x}"]
    assert (args.timezone, args.month, args.paper) == ("Europe/Berlin", "2026-11", "letter")
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["prometheus-secret"] == {
        "name": "prometheus-secret",
        "mountPath": "/run/secrets/avepoint-report",
        "readOnly": True,
    }
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["prometheus-secret"]["secret"]["secretName"] == "prom-report"
    assert volumes["reports"]["persistentVolumeClaim"] == {"claimName": "reports"}


@pytest.mark.parametrize(
    ("prometheus", "message"),
    [
        ({}, "report.prometheus.url: set the Prometheus the report reads"),
        ({"url": URL, "passwordKey": "pw", "username": "u"}, "set report.prometheus.existingSecret"),
        ({"url": URL, "passwordKey": "pw", "existingSecret": "s"}, "set report.prometheus.username too"),
    ],
)
def test_mistakes_stop_the_render(chart: helm.Chart, prometheus: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        render(chart, {"report": {"enabled": True, "prometheus": prometheus}})
