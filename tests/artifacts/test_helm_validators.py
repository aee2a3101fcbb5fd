"""The chart checked by independent validators: check-jsonschema, kubernetes-validate and the operator's CRDs."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.prometheus_operator import v1 as operator
from kubernetes_validate.utils import all_versions
from packaging.version import Version

from tests.artifacts.test_helm import CHART, FEATURES, Manifest, chart_path, render

SCHEMA = CHART / "values.schema.json"
CHECK_JSONSCHEMA = [sys.executable, "-m", "check_jsonschema"]
OPERATOR_GROUP = "monitoring.coreos.com/"
OPERATOR_MODELS: dict[str, type[Any]] = {
    "ServiceMonitor": operator.ServiceMonitor,
    "PrometheusRule": operator.PrometheusRule,
}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of user values over values.yaml (maps merge, everything else replaces)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[Manifest]]]:
    """Every feature's values set rendered once: the validators below share these."""
    with helm.Chart.load(chart_path(tmp_path_factory)) as chart:
        yield {feature: render(chart, values) for feature, values in FEATURES.items()}


# --- values.schema.json as a JSON Schema document, and the values against it ------------------------------


def check_jsonschema(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHECK_JSONSCHEMA, *map(str, args)], capture_output=True, text=True, timeout=60)


def test_the_schema_is_a_valid_json_schema_with_ecma_regexes() -> None:
    # --check-metaschema checks the schema against its draft's metaschema, with format "regex" checked in
    # ECMA-262 syntax (what ajv and editors use): a Python- or Go-only construct such as (?i) fails here.
    result = check_jsonschema("--check-metaschema", "--regex-variant", "default", SCHEMA)
    assert result.returncode == 0, result.stdout + result.stderr


def test_values_yaml_and_every_feature_pass_the_schema(tmp_path: Path) -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    files = [CHART / "values.yaml"]
    for feature, values in FEATURES.items():
        path = tmp_path / f"{feature}.json"
        path.write_text(json.dumps(deep_merge(defaults, values)))
        files.append(path)
    result = check_jsonschema("--schemafile", SCHEMA, "--regex-variant", "default", *files)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("Strict-Transport-Security", True),
        ("strict-transport-security", True),
        ("X-FRAME-OPTIONS", True),
        ("content-Security-policy", True),
        ("Server", False),
        ("X-Frame-Options-Extra", False),
    ],
)
def test_schema_allows_the_headers_in_any_case_and_no_others(tmp_path: Path, header: str, allowed: bool) -> None:
    path = tmp_path / "values.json"
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    values = deep_merge(defaults, {"webConfig": {"http_server_config": {"headers": {header: "x"}}}})
    path.write_text(json.dumps(values))
    result = check_jsonschema("--schemafile", SCHEMA, "--regex-variant", "default", path)
    assert (result.returncode == 0) == allowed, result.stdout + result.stderr


# --- the rendered manifests against Kubernetes' own schemas ----------------------------------------------------


def kube_versions() -> tuple[str, str]:
    """The oldest and newest Kubernetes minor that kubernetes-validate ships and Chart.yaml's kubeVersion allows."""
    floor = re.fullmatch(r">=(\d+\.\d+)\.\d+-0", yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"])
    assert floor, "kubeVersion should be a plain lower bound, >=X.Y.0-0"
    supported = [v for v in all_versions() if Version(v) >= Version(floor.group(1))]
    return supported[0], supported[-1]


def test_kube_version_floor_is_the_oldest_version_tested() -> None:
    # The chart claims no Kubernetes older than the schemas it is checked against; Chart.yaml's comment names
    # the tested range so a reader knows the newest one too.
    oldest, newest = kube_versions()
    chart_yaml = (CHART / "Chart.yaml").read_text()
    assert f">={oldest}-0" in chart_yaml, f"kubeVersion's floor should be {oldest}, the oldest schema tested"
    assert f"{Version(oldest).major}.{Version(oldest).minor} to {Version(newest).major}.{Version(newest).minor}" in (
        chart_yaml
    ), "Chart.yaml's comment should name the tested range"


@pytest.mark.parametrize("which", ["oldest", "newest"])
@pytest.mark.parametrize("feature", FEATURES)
def test_manifests_pass_kubernetes_validate_strict(
    renders: dict[str, list[Manifest]], feature: str, which: str
) -> None:
    version = kube_versions()[0 if which == "oldest" else 1]
    problems = []
    for doc in renders[feature]:
        if doc["apiVersion"].startswith(OPERATOR_GROUP):
            continue  # CRDs: not in Kubernetes' schemas, checked against the operator's below
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
            problems.append(f"{doc['kind']} {doc['metadata']['name']}: {getattr(error, 'message', error)}")
    assert not problems, f"Kubernetes {version}: " + "; ".join(problems)


def test_kubernetes_validate_refuses_a_misspelled_key(renders: dict[str, list[Manifest]]) -> None:
    # Proof that --strict is on: an unknown field, which the API server would drop with a warning, fails.
    (deployment,) = [copy.deepcopy(d) for d in renders["default"] if d["kind"] == "Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    for version in kube_versions():
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(deployment, version, strict=True)


# --- ServiceMonitor and PrometheusRule against the prometheus-operator CRDs -------------------------------------


def closed(schema: Any) -> Any:
    """The schema with additionalProperties: false on every object that lists its properties.

    The models accept (and drop) unknown keys, as Kubernetes' API server does by default; a strict schema
    makes a misspelled key, which the operator would silently ignore, fail the test."""
    if isinstance(schema, dict):
        out = {key: closed(value) for key, value in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        if isinstance(out.get("pattern"), str) and "(?i)" in out["pattern"]:
            # The CRDs' patterns are Go's RE2, where a flag may follow ^ (partial_response_strategy's
            # '^(?i)(abort|warn)?$'); Python's re wants flags first, with the same meaning.
            out["pattern"] = "(?i)" + out["pattern"].replace("(?i)", "")
        return out
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    return schema


def operator_validator(kind: str) -> jsonschema.protocols.Validator:
    schema = closed(OPERATOR_MODELS[kind].model_json_schema(by_alias=True, mode="validation"))
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator_class.check_schema(schema)
    validator: jsonschema.protocols.Validator = validator_class(schema)
    return validator


VALIDATORS = {kind: operator_validator(kind) for kind in OPERATOR_MODELS}


def leaf_errors(errors: Iterator[jsonschema.ValidationError]) -> Iterator[jsonschema.ValidationError]:
    """The innermost errors: the models' optional fields are anyOf(X, null), whose own message quotes the
    whole value; the reason is inside, in the branch that is not null."""
    for error in errors:
        if error.context:
            yield from leaf_errors(e for e in error.context if e.validator_value != "null")
        else:
            yield error


def operator_problems(doc: Manifest) -> list[str]:
    errors = leaf_errors(VALIDATORS[doc["kind"]].iter_errors(doc))
    return [f"{doc['kind']} {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def test_some_feature_renders_each_operator_kind(renders: dict[str, list[Manifest]]) -> None:
    rendered = {d["kind"] for docs in renders.values() for d in docs if d["apiVersion"].startswith(OPERATOR_GROUP)}
    assert rendered == set(OPERATOR_MODELS)


@pytest.mark.parametrize("feature", FEATURES)
def test_operator_objects_match_the_crds_with_no_unknown_fields(
    renders: dict[str, list[Manifest]], feature: str
) -> None:
    for doc in renders[feature]:
        if doc["apiVersion"].startswith(OPERATOR_GROUP):
            assert doc["apiVersion"] == "monitoring.coreos.com/v1"
            assert not operator_problems(doc), operator_problems(doc)
            OPERATOR_MODELS[doc["kind"]].model_validate(doc)  # the models' own types and required fields


@pytest.mark.parametrize(
    ("kind", "spoil"),
    [
        ("ServiceMonitor", lambda d: d["spec"]["endpoints"][0].update(intervall="30s")),
        ("ServiceMonitor", lambda d: d["spec"].update(jobLable="job")),
        ("PrometheusRule", lambda d: d["spec"]["groups"][0]["rules"][0].update(expresion="up")),
        ("PrometheusRule", lambda d: d["spec"]["groups"][0].update(rule=[])),
    ],
)
def test_a_misspelled_operator_key_fails(renders: dict[str, list[Manifest]], kind: str, spoil: Any) -> None:
    docs = renders["serviceMonitor"] + renders["prometheusRule"]
    (doc,) = [copy.deepcopy(d) for d in docs if d["kind"] == kind]
    spoil(doc)
    assert any("Additional properties are not allowed" in p for p in operator_problems(doc))
