"""Renders alerts/avepoint-backup.rules.yml from the mixin, or checks that the shipped file is its rendering.

The mixin (mixin/mixin.libsonnet) is the one source of the rules: its _config sets the selector, thresholds
and intervals, and the plain YAML is what it gives with the defaults. Run after changing the mixin:

    python3 mixin/render.py && python3 helm/sync.py    # write the rules file, then the chart's copy
    python3 mixin/render.py --check                     # exit 1 if the shipped file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import _jsonnet
import yaml

ROOT = Path(__file__).resolve().parent.parent
MIXIN = ROOT / "mixin" / "mixin.libsonnet"
RULES = ROOT / "alerts" / "avepoint-backup.rules.yml"

HEADER = """\
# Prometheus rules for avepoint-backup-exporter. Documentation of every alert: alerts/README.md.
#
# GENERATED from the monitoring mixin (mixin/*.libsonnet) with its default _config by mixin/render.py: do
# not edit here. The comments explaining each rule are in mixin/alerts.libsonnet and mixin/rules.libsonnet.
# To change a threshold without the mixin, edit the number in the expression (alerts/README.md names them).
"""


def evaluate(expression: str = 'import "mixin/mixin.libsonnet"') -> Any:
    """Evaluates a Jsonnet expression with the repository as the import root."""
    return json.loads(_jsonnet.evaluate_snippet("mixin-eval", expression, jpathdir=[str(ROOT)]))


def rules_document(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The recording rules' groups, then the alerts' groups, as one rules file; overrides go into _config."""
    config = json.dumps(overrides or {})
    mixin = evaluate(
        f'local m = (import "mixin/mixin.libsonnet") + {{ _config+:: {config} }};'
        " { groups: m.prometheusRules.groups + m.prometheusAlerts.groups }"
    )
    assert isinstance(mixin, dict)
    return mixin


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the expressions) as literal blocks, so the file reads like a hand-written one."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


# Jsonnet sorts an object's fields; the file keeps the order people read a rule in.
RULE_KEYS = ("record", "alert", "expr", "for", "labels", "annotations")
ANNOTATION_KEYS = ("summary", "description", "runbook_url")


def _ordered(rule: dict[str, Any]) -> dict[str, Any]:
    out = {key: rule[key] for key in RULE_KEYS if key in rule} | rule
    if "annotations" in out:
        notes = out["annotations"]
        out["annotations"] = {key: notes[key] for key in ANNOTATION_KEYS if key in notes} | notes
    return out


def render(overrides: dict[str, Any] | None = None) -> str:
    document = rules_document(overrides)
    groups = [{"name": g["name"], "rules": [_ordered(rule) for rule in g["rules"]]} for g in document["groups"]]
    body = yaml.dump({"groups": groups}, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the shipped rules file is not the rendering")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if RULES.read_text() != text:
            print(f"{RULES.relative_to(ROOT)} is stale: run python3 mixin/render.py", file=sys.stderr)
            return 1
        return 0
    RULES.write_text(text)
    print(f"wrote {RULES.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
