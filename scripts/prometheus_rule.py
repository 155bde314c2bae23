"""Generate deploy/k8s/prometheusrule.yaml (prometheus-operator) from deploy/prometheus/rules.yml.

    uv run python scripts/prometheus_rule.py --write   # regenerate
    uv run python scripts/prometheus_rule.py --check   # exit 1 when out of date

rules.yml stays the one source of the alerts (promtool tests run on it); the
PrometheusRule carries the same groups, untouched. tests/deploy/test_alerts.py checks
the two agree.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
TARGET = ROOT / "deploy" / "k8s" / "prometheusrule.yaml"

HEADER = """\
# GENERATED from deploy/prometheus/rules.yml by scripts/prometheus_rule.py: do not edit.
# For clusters running prometheus-operator (kube-prometheus-stack); it needs the
# PrometheusRule CRD, so it is not in kustomization.yaml:
#   kubectl apply -f deploy/k8s/prometheusrule.yaml
# The `release` label must match your Prometheus's ruleSelector.
"""


def build() -> dict[str, Any]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "cerflow",
            "namespace": "cerflow",
            "labels": {"app.kubernetes.io/part-of": "cerflow", "release": "kube-prometheus-stack"},
        },
        "spec": {"groups": groups},
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as `|` blocks, as written in rules.yml."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render() -> str:
    body = yaml.dump(build(), Dumper=_Dumper, sort_keys=False, width=200, allow_unicode=True)
    return HEADER + body


def main(argv: list[str]) -> int:
    text = render()
    if "--write" in argv:
        TARGET.write_text(text, encoding="utf-8")
        return 0
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run scripts/prometheus_rule.py --write")
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
