"""The Helm chart, rendered and linted by a real Helm engine (Helm's Go SDK via helm-python-sdk)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import helm_python as helm
import pytest
import yaml

from exporter import __version__, cli, config
from exporter import shard as sharding
from exporter.config import web as webconfig
from tests.support import ROOT, make_cert

CHART = ROOT / "helm" / "avepoint-backup-exporter"
RULES_SOURCE = ROOT / "alerts" / "avepoint-backup.rules.yml"
DASHBOARDS_SOURCE = ROOT / "dashboards"
RELEASE, NAMESPACE = "rel", "mon"
FULLNAME = f"{RELEASE}-avepoint-backup-exporter"
SECRET_DIR, CONFIG_DIR, STATE_DIR = "/run/secrets/avepoint", "/etc/avepoint-exporter", "/var/lib/avepoint-exporter"
WEB_DIR, WEB_TLS_DIR = "/run/secrets/avepoint-web", "/run/secrets/avepoint-web-tls"
WEB_CONFIG_SECRET = f"{FULLNAME}-web-config"
# A real bcrypt hash (cost 4: quick to check) of the password "scrape".
HASH = bcrypt.hashpw(b"scrape", bcrypt.gensalt(rounds=4)).decode()
WEB_BASIC_AUTH: dict[str, Any] = {"basic_auth_users": {"prometheus": HASH}}
WEB_TLS: dict[str, Any] = {"tls": {"existingSecret": "exporter-tls"}}

Manifest = dict[str, Any]
DNS_LABEL = r"(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?"

# Every optional feature, with the values that turn it on.
FEATURES: dict[str, dict[str, Any]] = {
    "default": {},
    "serviceMonitor": {"serviceMonitor": {"enabled": True, "additionalLabels": {"release": "kube-prometheus-stack"}}},
    "prometheusRule": {"prometheusRule": {"enabled": True, "additionalLabels": {"release": "kube-prometheus-stack"}}},
    "dashboards": {"dashboards": {"enabled": True, "folder": "AvePoint"}},
    "networkPolicy": {"networkPolicy": {"enabled": True}},
    "podDisruptionBudget": {"podDisruptionBudget": {"enabled": True}},
    "existingSecret": {"auth": {"existingSecret": "my-avepoint"}},
    "certificate": {"auth": {"method": "certificate", "privateKey": "KEY PEM", "certificate": "CERT PEM"}},
    "shards": {"shards": 3},
    "persistence": {"persistence": {"enabled": True}},
    "shardsWithPersistence": {"shards": 3, "persistence": {"enabled": True}},
    "demo": {"demo": True},
    "webBasicAuth": {"webConfig": WEB_BASIC_AUTH},
    "webTLS": {"webConfig": WEB_TLS, "serviceMonitor": {"enabled": True, "tlsConfig": {"insecureSkipVerify": True}}},
    "webBoth": {"webConfig": WEB_BASIC_AUTH | WEB_TLS},
    "report": {"report": {"enabled": True, "prometheus": {"url": "http://prometheus-operated.mon.svc:9090"}}},
}
BASE_KINDS = {"Deployment", "Service", "ServiceAccount", "ConfigMap", "Secret"}
EXPECTED_KINDS = {
    "default": BASE_KINDS,
    "serviceMonitor": BASE_KINDS | {"ServiceMonitor"},
    "prometheusRule": BASE_KINDS | {"PrometheusRule"},
    "dashboards": BASE_KINDS,  # plus the dashboard ConfigMaps
    "networkPolicy": BASE_KINDS | {"NetworkPolicy"},
    "podDisruptionBudget": BASE_KINDS | {"PodDisruptionBudget"},
    "existingSecret": BASE_KINDS - {"Secret"},
    "certificate": BASE_KINDS,
    "shards": BASE_KINDS - {"Deployment"} | {"StatefulSet"},
    "persistence": BASE_KINDS | {"PersistentVolumeClaim"},
    "shardsWithPersistence": BASE_KINDS - {"Deployment"} | {"StatefulSet"},
    "demo": BASE_KINDS - {"ConfigMap", "Secret"},
    "webBasicAuth": BASE_KINDS,  # plus the web config Secret
    "webTLS": BASE_KINDS | {"ServiceMonitor"},
    "webBoth": BASE_KINDS,
    "report": BASE_KINDS | {"CronJob"},
}
SAMPLE_RULES = """groups:
  - name: sample
    rules:
      - alert: AvePointExporterDown
        expr: up{job="avepoint-backup-exporter"} == 0
        annotations:
          description: '{{ $labels.instance }} is down'
"""
SAMPLE_DASHBOARD = {"title": "AvePoint sample", "uid": "sample", "panels": [], "schemaVersion": 39}


@pytest.fixture(scope="module")
def chart_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chart_path(tmp_path_factory)


def chart_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chart; while the repository has no rules or dashboards yet, a copy with samples in their place."""
    files = CHART / "files"
    if (files / RULES_SOURCE.name).is_file() and list((files / "dashboards").glob("*.json")):
        return CHART
    copy = tmp_path_factory.mktemp("chart") / CHART.name
    shutil.copytree(CHART, copy)
    (copy / "files" / "dashboards").mkdir(parents=True, exist_ok=True)
    if not (copy / "files" / RULES_SOURCE.name).is_file():
        (copy / "files" / RULES_SOURCE.name).write_text(SAMPLE_RULES)
    if not list((copy / "files" / "dashboards").glob("*.json")):
        (copy / "files" / "dashboards" / "avepoint_sample.json").write_text(json.dumps(SAMPLE_DASHBOARD, indent=2))
    return copy


@pytest.fixture(scope="module")
def chart(chart_dir: Path) -> Iterator[helm.Chart]:
    with helm.Chart.load(chart_dir) as loaded:
        yield loaded


def rendered(chart: helm.Chart, values: dict[str, Any] | None = None) -> dict[str, str]:
    return chart.render(values, name=RELEASE, namespace=NAMESPACE)


def render(chart: helm.Chart, values: dict[str, Any] | None = None) -> list[Manifest]:
    docs: list[Manifest] = []
    for path, text in sorted(rendered(chart, values).items()):
        if not path.endswith(".yaml"):
            continue
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def kinds(docs: list[Manifest]) -> set[str]:
    return {d["kind"] for d in docs}


def get(docs: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[d['metadata']['name'] for d in found]}"
    return found[0]


def workload(docs: list[Manifest]) -> Manifest:
    (found,) = [d for d in docs if d["kind"] in {"Deployment", "StatefulSet"}]
    return found


def pod_spec(docs: list[Manifest]) -> dict[str, Any]:
    spec: dict[str, Any] = workload(docs)["spec"]["template"]["spec"]
    return spec


def container(docs: list[Manifest]) -> dict[str, Any]:
    (only,) = pod_spec(docs)["containers"]
    result: dict[str, Any] = only
    return result


def config_file(docs: list[Manifest]) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(get(docs, "ConfigMap", FULLNAME)["data"]["config.yml"])
    return data


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# --- lint and shape ---------------------------------------------------------------------------------


def test_chart_metadata(chart: helm.Chart) -> None:
    meta = chart.metadata
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == "avepoint-backup-exporter"
    assert meta["appVersion"] == __version__, "Chart.yaml's appVersion must be exporter.__version__"
    assert chart.schema is not None and chart.schema["$schema"] == "http://json-schema.org/draft-07/schema#"


@pytest.mark.parametrize("feature", FEATURES)
def test_lints_clean(chart_dir: Path, feature: str) -> None:
    report = helm.lint(chart_dir, FEATURES[feature], strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems and not report["errors"], problems or report["errors"]


@pytest.mark.parametrize("feature", FEATURES)
def test_renders_the_kinds_of_each_feature(chart: helm.Chart, feature: str) -> None:
    docs = render(chart, FEATURES[feature])
    assert kinds(docs) == EXPECTED_KINDS[feature]
    for doc in docs:
        meta = doc["metadata"]
        assert meta.get("namespace") == NAMESPACE, f"{doc['kind']} {meta['name']} has no namespace"
        labels = meta["labels"]
        assert labels["app.kubernetes.io/name"] == "avepoint-backup-exporter"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/version"] == __version__
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == f"avepoint-backup-exporter-{chart.version}"


def test_common_labels_reach_every_object(chart: helm.Chart) -> None:
    docs = render(chart, {"commonLabels": {"team": "msp"}, "serviceMonitor": {"enabled": True}})
    assert all(d["metadata"]["labels"]["team"] == "msp" for d in docs)


def test_workload_selects_its_pods_and_the_service_finds_them(chart: helm.Chart) -> None:
    docs = render(chart)
    deployment = get(docs, "Deployment", FULLNAME)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] == 1
    assert selects(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    service = get(docs, "Service", FULLNAME)
    assert selects(service["spec"]["selector"], pod_labels)
    (port,) = service["spec"]["ports"]
    assert port == {"name": "http-metrics", "port": 9877, "targetPort": "http-metrics", "protocol": "TCP"}
    assert container(docs)["ports"] == [{"name": "http-metrics", "containerPort": 9877, "protocol": "TCP"}]
    account = get(docs, "ServiceAccount", FULLNAME)
    assert pod_spec(docs)["serviceAccountName"] == account["metadata"]["name"]
    assert pod_spec(docs)["automountServiceAccountToken"] is False


def test_image_defaults_to_app_version(chart: helm.Chart) -> None:
    assert container(render(chart))["image"] == f"avepoint-backup-exporter:{__version__}"
    digest = "sha256:" + "a" * 64
    docs = render(chart, {"image": {"repository": "registry.example/ape", "tag": "9.9", "digest": digest}})
    assert container(docs)["image"] == f"registry.example/ape@{digest}"


def test_args_and_log_settings(chart: helm.Chart) -> None:
    assert container(render(chart))["args"] == [
        f"--config.file={CONFIG_DIR}/config.yml",
        "--web.listen-address=:9877",
        "--log.format=json",
        "--log.level=info",
    ]
    args = container(render(chart, {"logFormat": "logfmt", "logLevel": "debug", "extraArgs": ["--x=1"]}))["args"]
    assert {"--log.format=logfmt", "--log.level=debug", "--x=1"} <= set(args)
    env = [{"name": "AVEPOINT_CACHE_TTL", "value": "2m"}]
    assert container(render(chart, {"extraEnv": env}))["env"] == env


@pytest.mark.parametrize("feature", FEATURES)
def test_the_exporter_accepts_the_args(chart: helm.Chart, feature: str) -> None:
    values = FEATURES[feature]
    parsed = cli.parser().parse_args(container(render(chart, values))["args"])
    assert (parsed.log_format, parsed.log_level) == ("json", "info")
    assert parsed.shard_count == values.get("shards", 1)
    assert parsed.demo is bool(values.get("demo"))
    assert parsed.listen_address == ":9877"


def test_probes(chart: helm.Chart) -> None:
    c = container(render(chart))
    assert c["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http-metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http-metrics"}
    assert c["livenessProbe"]["timeoutSeconds"] >= 1
    assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]


def test_memory_is_limited_and_cpu_is_not_and_the_docs_say_why(chart: helm.Chart) -> None:
    resources = container(render(chart))["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"memory"}, "CPU is unlimited on purpose: a quota throttles scrapes"
    comment = (CHART / "values.yaml").read_text().split("\nresources:")[0].rsplit("\n\n", 1)[-1]
    assert "CPU is left unlimited on purpose" in " ".join(line.lstrip("# ") for line in comment.splitlines())
    assert "on purpose, no CPU limit" in " ".join((CHART / "README.md").read_text().split())
    # Where a LimitRange demands one, the documented way works.
    limited = container(render(chart, {"resources": {"limits": {"cpu": "500m"}}}))["resources"]
    assert limited["limits"] == {"cpu": "500m", "memory": "256Mi"}


def test_restricted_security_context(chart: helm.Chart) -> None:
    docs = render(chart)
    assert pod_spec(docs)["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container(docs)["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


# --- config, secret, state ------------------------------------------------------------------------------


def mounted_secret_files(docs: list[Manifest]) -> tuple[str, dict[str, str]]:
    """(secret name, {path in the pod: key in the Secret}) of the read-only secret mount."""
    (mount,) = [m for m in container(docs)["volumeMounts"] if m["mountPath"] == SECRET_DIR]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod_spec(docs)["volumes"] if v["name"] == mount["name"]]
    secret = volume["secret"]
    assert secret["defaultMode"] == 0o440
    return secret["secretName"], {f"{SECRET_DIR}/{item['path']}": item["key"] for item in secret["items"]}


def test_client_secret_is_a_mounted_file_that_the_config_names(chart: helm.Chart) -> None:
    docs = render(chart, {"auth": {"clientId": "app-id", "clientSecret": "s3cret"}, "config": {"cache": {"ttl": "2m"}}})
    cfg = config_file(docs)
    assert cfg["auth"] == {"client_id": "app-id", "client_secret_file": f"{SECRET_DIR}/client-secret"}
    assert cfg["cache"] == {"ttl": "2m"}
    name, files = mounted_secret_files(docs)
    secret = get(docs, "Secret", name)
    key = files[cfg["auth"]["client_secret_file"]]
    assert base64.b64decode(secret["data"][key]).decode() == "s3cret"
    (mount,) = [m for m in container(docs)["volumeMounts"] if m["mountPath"] == CONFIG_DIR]
    (volume,) = [v for v in pod_spec(docs)["volumes"] if v["name"] == mount["name"]]
    assert mount["readOnly"] is True and volume["configMap"]["name"] == FULLNAME


def test_certificate_files_are_mounted_and_named_in_the_config(chart: helm.Chart) -> None:
    docs = render(chart, FEATURES["certificate"])
    auth = config_file(docs)["auth"]
    assert "client_secret_file" not in auth
    name, files = mounted_secret_files(docs)
    data = get(docs, "Secret", name)["data"]
    assert base64.b64decode(data[files[auth["private_key_file"]]]).decode() == "KEY PEM"
    assert base64.b64decode(data[files[auth["certificate_file"]]]).decode() == "CERT PEM"


@pytest.mark.parametrize("method", ["clientSecret", "certificate"])
def test_the_exporter_loads_the_rendered_config_and_secret(chart: helm.Chart, tmp_path: Path, method: str) -> None:
    """The ConfigMap and the Secret's files, laid out as the pod sees them, pass the exporter's strict loader."""
    auth: dict[str, Any] = {"clientId": "app-id", "method": method}
    if method == "certificate":
        key_path, cert_path, _ = make_cert(tmp_path)
        auth |= {"privateKey": key_path.read_text(), "certificate": cert_path.read_text()}
    else:
        auth["clientSecret"] = "s3cret"
    user_config = {"customers": {"exclude": ["c1"]}, "jobs": {"expected_interval": "12h"}}
    docs = render(chart, {"auth": auth, "config": user_config})
    name, files = mounted_secret_files(docs)
    data = get(docs, "Secret", name)["data"]
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for pod_path, key in files.items():
        (secrets / Path(pod_path).name).write_bytes(base64.b64decode(data[key]))
    text = get(docs, "ConfigMap", FULLNAME)["data"]["config.yml"].replace(SECRET_DIR, str(secrets))
    (tmp_path / "config.yml").write_text(text)
    cfg = config.load(tmp_path / "config.yml", env={})
    assert cfg.auth.client_id == "app-id"
    assert cfg.auth.method == ("certificate" if method == "certificate" else "client_secret")
    if method == "clientSecret":
        assert cfg.auth.client_secret == config.Secret("s3cret")
    assert cfg.customers.exclude == ("c1",) and cfg.jobs.expected_interval == 12 * 3600
    assert cfg.state_file == f"{STATE_DIR}/state.json"


def test_existing_secret_with_custom_keys(chart: helm.Chart) -> None:
    values = {
        "auth": {"existingSecret": "my-avepoint", "method": "certificate", "secretKeys": {"privateKey": "key.pem"}}
    }
    docs = render(chart, values)
    assert "Secret" not in kinds(docs)
    auth = config_file(docs)["auth"]
    name, files = mounted_secret_files(docs)
    assert name == "my-avepoint"
    assert files == {auth["private_key_file"]: "key.pem", auth["certificate_file"]: "tls.crt"}


def test_user_config_cannot_lose_the_chart_paths(chart: helm.Chart) -> None:
    cfg = config_file(render(chart, {"config": {"auth": {"scopes": ["a"]}, "state_file": "/tmp/s.json"}}))
    assert cfg["auth"] == {"scopes": ["a"], "client_secret_file": f"{SECRET_DIR}/client-secret"}
    assert cfg["state_file"] == "/tmp/s.json"


def test_checksums_roll_the_pods_on_config_and_secret_changes(chart: helm.Chart) -> None:
    def annotations(values: dict[str, Any]) -> dict[str, str]:
        result: dict[str, str] = workload(render(chart, values))["spec"]["template"]["metadata"]["annotations"]
        return result

    base = annotations({})
    out = rendered(chart)
    configmap = next(text for path, text in out.items() if path.endswith("/configmap.yaml"))
    assert base["checksum/config"] == hashlib.sha256(configmap.encode()).hexdigest()
    assert annotations({"config": {"cache": {"ttl": "1m"}}})["checksum/config"] != base["checksum/config"]
    assert annotations({"auth": {"clientId": "other"}})["checksum/config"] != base["checksum/config"]
    assert annotations({"auth": {"clientSecret": "new"}})["checksum/secret"] != base["checksum/secret"]
    unrelated = annotations({"podAnnotations": {"a": "b"}})
    assert unrelated["checksum/config"] == base["checksum/config"] and unrelated["a"] == "b"
    assert annotations({"auth": {"clientSecret": "new"}})["checksum/config"] == base["checksum/config"]


def state_volume(docs: list[Manifest]) -> dict[str, Any]:
    (mount,) = [m for m in container(docs)["volumeMounts"] if m["mountPath"] == STATE_DIR]
    assert not mount.get("readOnly")
    (volume,) = [v for v in pod_spec(docs)["volumes"] if v["name"] == mount["name"]]
    result: dict[str, Any] = volume
    return result


def test_state_file_on_a_writable_volume(chart: helm.Chart) -> None:
    docs = render(chart)
    assert config_file(docs)["state_file"].startswith(STATE_DIR + "/")
    assert "emptyDir" in state_volume(docs)
    assert "strategy" not in get(docs, "Deployment")["spec"]
    mounts = {m["mountPath"] for m in container(docs)["volumeMounts"]}
    assert "/tmp" in mounts


def test_persistence_uses_a_claim_and_recreates(chart: helm.Chart) -> None:
    docs = render(chart, FEATURES["persistence"])
    claim = get(docs, "PersistentVolumeClaim")
    assert state_volume(docs)["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert get(docs, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    existing = render(chart, {"persistence": {"enabled": True, "existingClaim": "mine"}})
    assert "PersistentVolumeClaim" not in kinds(existing)
    assert state_volume(existing)["persistentVolumeClaim"]["claimName"] == "mine"


def test_demo_needs_no_config_or_secret(chart: helm.Chart) -> None:
    docs = render(chart, FEATURES["demo"])
    args = container(docs)["args"]
    assert "--demo" in args and not [a for a in args if a.startswith("--config.file")]
    assert {v["name"] for v in pod_spec(docs)["volumes"]} == {"state", "tmp"}


# --- sharding ---------------------------------------------------------------------------------------------


def test_shards_run_as_a_statefulset(chart: helm.Chart) -> None:
    docs = render(chart, FEATURES["shards"])
    sts = get(docs, "StatefulSet", FULLNAME)
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    headless = get(docs, "Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert selects(headless["spec"]["selector"], sts["spec"]["template"]["metadata"]["labels"])
    args = container(docs)["args"]
    assert "--shard.count=3" in args
    assert not [a for a in args if a.startswith("--shard.index")], "the index comes from the pod name"
    env = {e["name"]: e for e in container(docs)["env"]}
    assert env["HOSTNAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    # The exporter's own parser and shard resolution, fed what the StatefulSet's pods get.
    parsed = cli.parser().parse_args(args)
    assert parsed.shard_index is None
    pods = [f"{sts['metadata']['name']}-{ordinal}" for ordinal in range(sts["spec"]["replicas"])]
    shards = [sharding.resolve(parsed.shard_index, parsed.shard_count, pod) for pod in pods]
    assert shards == [sharding.Shard(i, 3) for i in range(3)]
    unsharded = container(render(chart))
    assert "--shard.count" not in " ".join(unsharded["args"]) and "env" not in unsharded


def test_sharded_persistence_gets_one_claim_per_shard(chart: helm.Chart) -> None:
    docs = render(chart, FEATURES["shardsWithPersistence"])
    sts = get(docs, "StatefulSet")
    (template,) = sts["spec"]["volumeClaimTemplates"]
    assert template["metadata"]["name"] == "state"
    assert "state" not in {v["name"] for v in pod_spec(docs)["volumes"]}
    assert "state" in {m["name"] for m in container(docs)["volumeMounts"]}


def test_shards_cannot_share_an_existing_claim(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmError, match="existingClaim"):
        render(chart, {"shards": 2, "persistence": {"enabled": True, "existingClaim": "mine"}})


# --- Prometheus Operator, Grafana -------------------------------------------------------------------------


def test_service_monitor_selects_the_metrics_service_only(chart: helm.Chart) -> None:
    docs = render(chart, {**FEATURES["serviceMonitor"], "shards": 3})
    monitor = get(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    selector = monitor["spec"]["selector"]["matchLabels"]
    selected = [s for s in docs if s["kind"] == "Service" and selects(selector, s["metadata"]["labels"])]
    assert [s["metadata"]["name"] for s in selected] == [FULLNAME], "exactly the metrics Service, not the headless"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in selected[0]["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("60s", "30s")


def test_service_monitor_sets_the_job_name_the_alerts_expect(chart: helm.Chart, chart_dir: Path) -> None:
    docs = render(chart, FEATURES["serviceMonitor"])
    (endpoint,) = get(docs, "ServiceMonitor")["spec"]["endpoints"]
    job = [r for r in endpoint["relabelings"] if r.get("targetLabel") == "job"]
    assert job == [{"action": "replace", "targetLabel": "job", "replacement": "avepoint-backup-exporter"}]
    rules = (chart_dir / "files" / RULES_SOURCE.name).read_text()
    for name in set(re.findall(r'job="([^"]+)"', rules)):
        assert name == job[0]["replacement"], f"the rules look for job={name!r}"


def test_prometheus_rule_groups_are_the_rules_file(chart: helm.Chart, chart_dir: Path) -> None:
    docs = render(chart, FEATURES["prometheusRule"])
    rule = get(docs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    expected = yaml.safe_load((chart_dir / "files" / RULES_SOURCE.name).read_text())
    assert rule["spec"] == {"groups": expected["groups"]}
    if RULES_SOURCE.is_file() and chart_dir == CHART:
        assert rule["spec"]["groups"] == yaml.safe_load(RULES_SOURCE.read_text())["groups"]


def test_dashboards_are_labelled_configmaps(chart: helm.Chart, chart_dir: Path) -> None:
    files = sorted((chart_dir / "files" / "dashboards").glob("*.json"))
    assert files
    docs = render(chart, FEATURES["dashboards"])
    maps = [d for d in docs if d["kind"] == "ConfigMap" and "grafana_dashboard" in d["metadata"]["labels"]]
    assert len(maps) == len(files)
    by_file = {next(iter(m["data"])): m for m in maps}
    for file in files:
        cm = by_file[file.name]
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"] == {"grafana_folder": "AvePoint"}
        assert json.loads(cm["data"][file.name]) == json.loads(file.read_text())
        assert re.fullmatch(DNS_LABEL, cm["metadata"]["name"]), cm["metadata"]["name"]
    custom = render(chart, {"dashboards": {"enabled": True, "label": "dash", "labelValue": "yes", "namespace": "graf"}})
    cms = [d for d in custom if d["kind"] == "ConfigMap" and "dash" in d["metadata"]["labels"]]
    assert len(cms) == len(files)
    assert all(d["metadata"]["labels"]["dash"] == "yes" and d["metadata"]["namespace"] == "graf" for d in cms)
    assert all("annotations" not in d["metadata"] for d in cms)


# --- NetworkPolicy, PodDisruptionBudget -------------------------------------------------------------------


def test_network_policy(chart: helm.Chart) -> None:
    docs = render(chart, FEATURES["networkPolicy"])
    policy = get(docs, "NetworkPolicy")["spec"]
    assert selects(policy["podSelector"]["matchLabels"], workload(docs)["spec"]["template"]["metadata"]["labels"])
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": 9877, "protocol": "TCP"}] and "from" not in ingress
    egress_ports = {(p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"]}
    assert egress_ports == {(443, "TCP"), (53, "UDP"), (53, "TCP")}

    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    api = {"ipBlock": {"cidr": "203.0.113.0/24"}}
    docs = render(chart, {"networkPolicy": {"enabled": True, "ingressFrom": [peer], "apiEgressTo": [api]}})
    policy = get(docs, "NetworkPolicy")["spec"]
    assert policy["ingress"][0]["from"] == [peer]
    assert [r["to"] for r in policy["egress"] if "to" in r] == [[api]]


def test_pod_disruption_budget(chart: helm.Chart) -> None:
    docs = render(chart, FEATURES["podDisruptionBudget"])
    pdb = get(docs, "PodDisruptionBudget")["spec"]
    assert pdb["maxUnavailable"] == 1 and "minAvailable" not in pdb
    assert selects(pdb["selector"]["matchLabels"], workload(docs)["spec"]["template"]["metadata"]["labels"])
    pdb = get(render(chart, {"podDisruptionBudget": {"enabled": True, "minAvailable": "50%"}}), "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == "50%" and "maxUnavailable" not in pdb["spec"]


# --- web config: TLS and basic auth ---------------------------------------------------------------------------

WEB_MODES: dict[str, dict[str, Any]] = {
    "basicAuth": WEB_BASIC_AUTH,
    "tls": WEB_TLS | {"tls_server_config": {"min_version": "TLS13"}},
    "both": WEB_BASIC_AUTH | WEB_TLS | {"http_server_config": {"headers": {"X-Content-Type-Options": "nosniff"}}},
}


def web_config_text(docs: list[Manifest]) -> str:
    return base64.b64decode(get(docs, "Secret", WEB_CONFIG_SECRET)["data"]["web-config.yml"]).decode()


def mounted_volume(docs: list[Manifest], path: str) -> dict[str, Any]:
    """The volume mounted read-only at path, as the pod spec names it."""
    (mount,) = [m for m in container(docs)["volumeMounts"] if m["mountPath"] == path]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod_spec(docs)["volumes"] if v["name"] == mount["name"]]
    result: dict[str, Any] = volume
    return result


def web_config_arg(docs: list[Manifest]) -> str | None:
    found = [a for a in container(docs)["args"] if a.startswith("--web.config.file=")]
    assert len(found) <= 1
    return found[0].partition("=")[2] if found else None


def test_web_config_is_off_by_default(chart: helm.Chart) -> None:
    docs = render(chart, FEATURES["serviceMonitor"])
    assert web_config_arg(docs) is None
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Secret"] == [FULLNAME]
    assert not [m for m in container(docs)["volumeMounts"] if m["mountPath"].startswith(WEB_DIR)]
    assert "checksum/web-config" not in workload(docs)["spec"]["template"]["metadata"]["annotations"]
    (endpoint,) = get(docs, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["scheme"] == "http" and "tlsConfig" not in endpoint and "basicAuth" not in endpoint
    # tlsConfig only means something with TLS on.
    docs = render(chart, {"serviceMonitor": {"enabled": True, "tlsConfig": {"insecureSkipVerify": True}}})
    (endpoint,) = get(docs, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["scheme"] == "http" and "tlsConfig" not in endpoint


@pytest.mark.parametrize("mode", WEB_MODES)
def test_web_config_secret_is_mounted_and_passed(chart: helm.Chart, mode: str) -> None:
    docs = render(chart, {"webConfig": WEB_MODES[mode]})
    path = web_config_arg(docs)
    assert path == f"{WEB_DIR}/web-config.yml"
    assert cli.parser().parse_args(container(docs)["args"]).web_config_file == path
    secret = mounted_volume(docs, WEB_DIR)["secret"]
    assert secret["secretName"] == WEB_CONFIG_SECRET and secret["defaultMode"] == 0o440
    assert secret["items"] == [{"key": "web-config.yml", "path": "web-config.yml"}]
    assert get(docs, "Secret", WEB_CONFIG_SECRET)["type"] == "Opaque"
    web = yaml.safe_load(web_config_text(docs))
    assert "tls" not in web, "the chart's own key stays out of the file"
    if "basic_auth_users" in WEB_MODES[mode]:
        assert web["basic_auth_users"] == {"prometheus": HASH}
    else:
        assert "basic_auth_users" not in web
    tls_mounts = [m for m in container(docs)["volumeMounts"] if m["mountPath"] == WEB_TLS_DIR]
    if "tls" in WEB_MODES[mode]:
        assert web["tls_server_config"]["cert_file"] == f"{WEB_TLS_DIR}/tls.crt"
        assert web["tls_server_config"]["key_file"] == f"{WEB_TLS_DIR}/tls.key"
        tls = mounted_volume(docs, WEB_TLS_DIR)["secret"]
        assert tls["secretName"] == "exporter-tls" and tls["defaultMode"] == 0o440
        assert tls["items"] == [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}]
    else:
        assert "tls_server_config" not in web and not tls_mounts


def write_web_files(docs: list[Manifest], tmp_path: Path, tls_keys: dict[str, bytes]) -> Path:
    """The web config Secret and the TLS Secret (its keys given) laid out as the pod sees them."""
    web_dir, tls_dir = tmp_path / "web", tmp_path / "tls"
    web_dir.mkdir()
    tls_dir.mkdir()
    for item in mounted_volume(docs, WEB_DIR)["secret"]["items"]:
        text = base64.b64decode(get(docs, "Secret", WEB_CONFIG_SECRET)["data"][item["key"]]).decode()
        (web_dir / item["path"]).write_text(text.replace(WEB_TLS_DIR, str(tls_dir)))
    if any(m["mountPath"] == WEB_TLS_DIR for m in container(docs)["volumeMounts"]):
        for item in mounted_volume(docs, WEB_TLS_DIR)["secret"]["items"]:
            (tls_dir / item["path"]).write_bytes(tls_keys[item["key"]])
    path = web_config_arg(docs)
    assert path is not None and path.startswith(WEB_DIR + "/")
    return web_dir / Path(path).relative_to(WEB_DIR)


@pytest.mark.parametrize("mode", WEB_MODES)
def test_the_exporter_loads_the_rendered_web_config(chart: helm.Chart, tmp_path: Path, mode: str) -> None:
    key_path, cert_path, _ = make_cert(tmp_path)
    keys = {"tls.crt": cert_path.read_bytes(), "tls.key": key_path.read_bytes()}
    docs = render(chart, {"webConfig": WEB_MODES[mode]})
    security = webconfig.load(write_web_files(docs, tmp_path, keys))
    assert security.auth_required is ("basic_auth_users" in WEB_MODES[mode])
    if security.auth_required:
        assert dict(security.users) == {"prometheus": config.Secret(HASH)}
    if "tls" in WEB_MODES[mode]:
        assert security.tls is not None and security.ssl_context is not None
        assert security.tls.cert_file == tmp_path / "tls" / "tls.crt"
        assert security.tls.key_file == tmp_path / "tls" / "tls.key"
    else:
        assert security.tls is None
    if mode == "tls":
        assert security.tls is not None and security.tls.min_version == "TLS13"
    if mode == "both":
        assert security.headers == (("X-Content-Type-Options", "nosniff"),)


def test_tls_secret_with_custom_keys_and_client_ca(chart: helm.Chart, tmp_path: Path) -> None:
    """Mutual TLS: the CA comes from the same Secret; the kubelet has no client certificate, so TCP probes."""
    key_path, cert_path, _ = make_cert(tmp_path)
    keys = {"crt": cert_path.read_bytes(), "key": key_path.read_bytes(), "ca.crt": cert_path.read_bytes()}
    tls = {"existingSecret": "exporter-tls", "certKey": "crt", "keyKey": "key", "clientCAKey": "ca.crt"}
    web = {"tls": tls, "tls_server_config": {"client_auth_type": "RequireAndVerifyClientCert"}}
    docs = render(chart, {"webConfig": web})
    items = mounted_volume(docs, WEB_TLS_DIR)["secret"]["items"]
    assert {i["path"]: i["key"] for i in items} == {"tls.crt": "crt", "tls.key": "key", "client-ca.crt": "ca.crt"}
    server = yaml.safe_load(web_config_text(docs))["tls_server_config"]
    assert server["client_ca_file"] == f"{WEB_TLS_DIR}/client-ca.crt"
    security = webconfig.load(write_web_files(docs, tmp_path, keys))
    assert security.tls is not None and security.tls.client_auth_type == "RequireAndVerifyClientCert"
    assert security.tls.client_ca_file == tmp_path / "tls" / "client-ca.crt"
    c = container(docs)
    for probe in (c["livenessProbe"], c["readinessProbe"]):
        assert probe["tcpSocket"] == {"port": "http-metrics"} and "httpGet" not in probe


def probe_gets(docs: list[Manifest]) -> tuple[dict[str, Any], dict[str, Any]]:
    c = container(docs)
    return c["livenessProbe"]["httpGet"], c["readinessProbe"]["httpGet"]


@pytest.mark.parametrize(
    ("mode", "scheme", "ready_path"),
    [("basicAuth", None, "/-/healthy"), ("tls", "HTTPS", "/-/ready"), ("both", "HTTPS", "/-/healthy")],
)
def test_probes_follow_the_web_config(chart: helm.Chart, mode: str, scheme: str | None, ready_path: str) -> None:
    liveness, readiness = probe_gets(render(chart, {"webConfig": WEB_MODES[mode]}))
    assert liveness.get("scheme") == scheme and readiness.get("scheme") == scheme
    assert liveness["path"] == "/-/healthy", "open without credentials (web.open_health_check)"
    assert readiness["path"] == ready_path, "/-/ready needs credentials the kubelet does not have"
    assert liveness["port"] == readiness["port"] == "http-metrics"


def test_probes_fall_back_to_tcp_when_health_needs_auth(chart: helm.Chart) -> None:
    closed = {"webConfig": WEB_BASIC_AUTH, "config": {"web": {"open_health_check": False}}}
    c = container(render(chart, closed))
    assert c["livenessProbe"]["tcpSocket"] == c["readinessProbe"]["tcpSocket"] == {"port": "http-metrics"}
    assert c["livenessProbe"]["periodSeconds"] == 15
    opened = {"webConfig": WEB_BASIC_AUTH, "config": {"web": {"open_health_check": True}}}
    assert probe_gets(render(chart, opened))[0]["path"] == "/-/healthy"


def test_service_monitor_scrapes_with_tls_and_basic_auth(chart: helm.Chart) -> None:
    basic_auth = {
        "username": {"name": "avepoint-scrape", "key": "username"},
        "password": {"name": "avepoint-scrape", "key": "password"},
    }
    tls_config = {"ca": {"secret": {"name": "exporter-tls", "key": "ca.crt"}}, "serverName": "exporter.mon.svc"}
    monitor = {"enabled": True, "tlsConfig": tls_config, "basicAuth": basic_auth}
    docs = render(chart, {"webConfig": WEB_MODES["both"], "serviceMonitor": monitor})
    (endpoint,) = get(docs, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"] == tls_config and endpoint["basicAuth"] == basic_auth
    docs = render(chart, FEATURES["webTLS"])
    (endpoint,) = get(docs, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["scheme"] == "https" and endpoint["tlsConfig"] == {"insecureSkipVerify": True}
    assert "basicAuth" not in endpoint
    docs = render(chart, {"webConfig": WEB_BASIC_AUTH, "serviceMonitor": {"enabled": True, "basicAuth": basic_auth}})
    (endpoint,) = get(docs, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["scheme"] == "http" and endpoint["basicAuth"] == basic_auth


def test_web_config_checksum_rolls_the_pods(chart: helm.Chart) -> None:
    def checksums(web: dict[str, Any]) -> dict[str, str]:
        annotations = workload(render(chart, {"webConfig": web}))["spec"]["template"]["metadata"]["annotations"]
        return {k: v for k, v in annotations.items() if k.startswith("checksum/")}

    base = checksums(WEB_BASIC_AUTH)
    other_hash = bcrypt.hashpw(b"other", bcrypt.gensalt(rounds=4)).decode()
    changed = checksums({"basic_auth_users": {"prometheus": other_hash}})
    assert changed["checksum/web-config"] != base["checksum/web-config"]
    assert changed["checksum/config"] == base["checksum/config"]
    assert changed["checksum/secret"] == base["checksum/secret"]
    with_tls = checksums(WEB_BASIC_AUTH | WEB_TLS)
    assert with_tls["checksum/web-config"] != base["checksum/web-config"]
    other_secret = checksums(WEB_BASIC_AUTH | {"tls": {"existingSecret": "exporter-tls", "certKey": "crt"}})
    assert other_secret["checksum/web-config"] != with_tls["checksum/web-config"]
    assert checksums(WEB_BASIC_AUTH) == base, "rendering is deterministic"


@pytest.mark.parametrize(
    ("web", "message"),
    [
        (
            {"tls": {"existingSecret": "s"}, "tls_server_config": {"cert_file": "/x.pem"}},
            "cert_file/key_file: leave them out",
        ),
        ({"tls_server_config": {"min_version": "TLS13"}}, "set webConfig.tls.existingSecret"),
        ({"tls": {"existingSecret": "s", "clientCAKey": "ca.crt"}}, "client_auth_type"),
        ({"tls": {"clientCAKey": "ca.crt"}}, "needs webConfig.tls.existingSecret"),
    ],
)
def test_web_config_mistakes_stop_the_render(chart: helm.Chart, web: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        render(chart, {"webConfig": web})


def test_user_tls_files_pass_through(chart: helm.Chart) -> None:
    """Without tls.existingSecret, cert_file/key_file of files mounted with extraVolumes are kept."""
    web = {"tls_server_config": {"cert_file": "/certs/tls.crt", "key_file": "/certs/tls.key"}}
    docs = render(chart, {"webConfig": web})
    assert yaml.safe_load(web_config_text(docs)) == web
    assert probe_gets(docs)[0]["scheme"] == "HTTPS"
    assert not [m for m in container(docs)["volumeMounts"] if m["mountPath"] == WEB_TLS_DIR]


def test_notes_explain_the_web_config(chart: helm.Chart) -> None:
    values = {"webConfig": WEB_MODES["both"], "serviceMonitor": {"enabled": True}}
    notes = next(text for path, text in rendered(chart, values).items() if path.endswith("NOTES.txt"))
    assert "curl -sk https://127.0.0.1:9877/metrics -u prometheus" in notes
    assert WEB_CONFIG_SECRET in notes and "readiness probe asks /-/healthy" in notes
    assert "serviceMonitor.tlsConfig is empty" in notes and "serviceMonitor.basicAuth is empty" in notes
    secret_ref = {"name": "scrape", "key": "k"}
    monitor = {"enabled": True, "tlsConfig": {"insecureSkipVerify": True}}
    monitor["basicAuth"] = {"username": secret_ref, "password": secret_ref}
    notes = next(
        text
        for path, text in rendered(chart, {"webConfig": WEB_MODES["both"], "serviceMonitor": monitor}).items()
        if path.endswith("NOTES.txt")
    )
    assert "tlsConfig is empty" not in notes and "basicAuth is empty" not in notes
    assert "scheme https and serviceMonitor.tlsConfig" in notes


# --- values.schema.json, NOTES, README -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"shards": 0}, "/shards"),
        ({"shards": "two"}, "/shards"),
        ({"shards": 1.5}, "/shards"),
        ({"logFormat": "xml"}, "/logFormat"),
        ({"logLevel": "verbose"}, "/logLevel"),
        ({"shard": 3}, "shard"),
        ({"auth": {"method": "password"}}, "/auth/method"),
        ({"auth": {"method": "certificate"}}, "/auth/privateKey"),
        ({"service": {"port": 70000}}, "/service/port"),
        ({"serviceMonitor": {"enabled": "yes"}}, "/serviceMonitor/enabled"),
        ({"serviceMonitor": {"interval": 60}}, "/serviceMonitor/interval"),
        ({"config": "auth: {}"}, "/config"),
        ({"webConfig": "yes"}, "/webConfig"),
        ({"webConfig": {"basic_auth_users": {"prometheus": "plain-password"}}}, "/webConfig/basic_auth_users"),
        ({"webConfig": {"basic_auth_user": {}}}, "basic_auth_user"),
        ({"webConfig": {"rate_limit": {"interval": "1s"}}}, "rate_limit"),
        ({"webConfig": {"tls": {"existingSecret": 3}}}, "/webConfig/tls/existingSecret"),
        ({"webConfig": {"tls": {"secretName": "s"}}}, "secretName"),
        ({"webConfig": {"tls_server_config": {"min_version": "TLS11"}}}, "/webConfig/tls_server_config/min_version"),
        ({"webConfig": {"http_server_config": {"headers": {"Server": "x"}}}}, "/webConfig/http_server_config/headers"),
        (
            {"serviceMonitor": {"enabled": True, "tlsConfig": {"insecureSkipVerify": "yes"}}},
            "/serviceMonitor/tlsConfig",
        ),
        (
            {"serviceMonitor": {"enabled": True, "basicAuth": {"username": {"name": "s", "key": "u"}}}},
            "/serviceMonitor/basicAuth",
        ),
    ],
)
def test_schema_rejects_wrong_values_naming_the_field(
    chart: helm.Chart, chart_dir: Path, values: dict[str, Any], field: str
) -> None:
    with pytest.raises(helm.HelmValuesError) as raised:
        render(chart, values)
    assert field in str(raised.value)
    report = helm.lint(chart_dir, values, namespace=NAMESPACE)
    assert any(field in m["error"] for m in report["messages"] if m["severity"] == 3), report


def test_notes_say_how_to_check_it_works(chart: helm.Chart) -> None:
    notes = next(text for path, text in rendered(chart).items() if path.endswith("NOTES.txt"))
    assert f"port-forward service/{FULLNAME} 9877:9877" in notes
    assert "curl -s http://127.0.0.1:9877/metrics" in notes and "avepoint_up" in notes
    assert "auth.clientId is empty" in notes
    configured = rendered(chart, {"auth": {"clientId": "x", "clientSecret": "y"}, "serviceMonitor": {"enabled": True}})
    notes = next(text for path, text in configured.items() if path.endswith("NOTES.txt"))
    assert "WARNING" not in notes and 'up{job="avepoint-backup-exporter"}' in notes


def leaves(values: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in values.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield prefix + key, value


def test_readme_lists_every_value_with_its_default() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([A-Za-z0-9_.]+)` \| `([^`]*)` \|", readme, flags=re.MULTILINE))
    missing = [key for key, _ in leaves(values) if key not in rows]
    assert not missing, f"values missing from helm/avepoint-backup-exporter/README.md: {missing}"
    wrong = {key: (rows[key], value) for key, value in leaves(values) if yaml.safe_load(rows[key]) != value}
    assert not wrong, f"README default differs from values.yaml (README, values.yaml): {wrong}"
    extra = set(rows) - {key for key, _ in leaves(values)}
    assert not extra, f"README documents values that do not exist: {extra}"


# --- the chart's copies of the rules and dashboards ---------------------------------------------------------


def test_chart_rules_are_a_copy_of_the_repository_rules() -> None:
    if not RULES_SOURCE.is_file():
        pytest.skip("alerts/avepoint-backup.rules.yml not written yet")
    copy = CHART / "files" / RULES_SOURCE.name
    assert copy.is_file() and copy.read_bytes() == RULES_SOURCE.read_bytes(), (
        f"{copy.relative_to(ROOT)} differs from alerts/avepoint-backup.rules.yml: run python3 helm/sync.py"
    )


def test_chart_dashboards_are_copies_of_the_repository_dashboards() -> None:
    if not DASHBOARDS_SOURCE.is_dir():
        pytest.skip("dashboards/ not written yet")
    sources = {p.name: p.read_bytes() for p in DASHBOARDS_SOURCE.glob("*.json")}
    copies = {p.name: p.read_bytes() for p in (CHART / "files" / "dashboards").glob("*.json")}
    assert copies == sources, "the chart's files/dashboards/ differ from dashboards/: run python3 helm/sync.py"


def test_sync_script_copies_and_checks(tmp_path: Path) -> None:
    """helm/sync.py in a scratch repository: --check finds a stale copy, a run fixes it and drops orphans."""
    (tmp_path / "helm").mkdir()
    shutil.copy(ROOT / "helm" / "sync.py", tmp_path / "helm" / "sync.py")
    files = tmp_path / "helm" / "avepoint-backup-exporter" / "files"
    (files / "dashboards").mkdir(parents=True)
    (files / "dashboards" / "gone.json").write_text("{}")
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / RULES_SOURCE.name).write_text(SAMPLE_RULES)
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / "fleet.json").write_text(json.dumps(SAMPLE_DASHBOARD))

    def sync(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, str(tmp_path / "helm" / "sync.py"), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)

    stale = sync("--check")
    assert stale.returncode == 1
    assert "avepoint-backup.rules.yml is missing" in stale.stdout and "gone.json has no source" in stale.stdout
    assert sync().returncode == 0
    assert (files / RULES_SOURCE.name).read_text() == SAMPLE_RULES
    assert sorted(p.name for p in (files / "dashboards").iterdir()) == ["fleet.json"]
    assert sync("--check").returncode == 0
