"""Alerts that reach someone (issue 15 item 3): every alert unit-tested with promtool (one
firing and one quiet case), each runbook entry names its metrics, the Kubernetes
PrometheusRule equals rules.yml, Alertmanager's config passes amtool and routes as
documented, and the Kubernetes extras (PDBs, KEDA, redis_exporter) match the workers."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.test_manifests import (
    EXPORTER_METRICS,
    RULES,
    _exported_names,
    promql_metric_names,
)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
PROM_TESTS = RULES.parent / "tests"
OPERATIONS = ROOT / "docs" / "operations.md"
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
COMPOSE = DEPLOY / "docker-compose.yml"
QUEUES = ("ingest", "analysis", "reports")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _alerts() -> dict[str, tuple[str, dict[str, Any]]]:
    """alert name -> (group name, rule)."""
    out = {}
    for group in _yaml(RULES)["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                out[rule["alert"]] = (group["name"], rule)
    return out


def _unit_cases() -> dict[str, dict[str, int]]:
    """alert name -> {"firing": n, "quiet": n} over every promtool test file."""
    seen: dict[str, dict[str, int]] = {}
    for path in sorted(PROM_TESTS.glob("*_test.yml")):
        for case in _yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                kind = "firing" if check.get("exp_alerts") else "quiet"
                counts = seen.setdefault(check["alertname"], {"firing": 0, "quiet": 0})
                counts[kind] += 1
    return seen


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    cases = _unit_cases()
    alerts = _alerts()
    assert len(alerts) >= 20
    missing = {
        name: cases.get(name, {"firing": 0, "quiet": 0})
        for name in alerts
        if not cases.get(name) or not cases[name]["firing"] or not cases[name]["quiet"]
    }
    assert not missing, f"alerts without a firing and a quiet promtool case: {missing}"
    assert set(cases) <= set(alerts), f"tests for unknown alerts: {set(cases) - set(alerts)}"


def test_one_unit_test_file_per_group() -> None:
    groups = {group for group, _ in _alerts().values()}
    files = {p.name for p in PROM_TESTS.glob("*_test.yml")}
    assert {f"{g.removeprefix('cerflow-')}_test.yml" for g in groups} <= files


def test_firing_cases_state_every_label_and_annotation() -> None:
    alerts = _alerts()
    for path in sorted(PROM_TESTS.glob("*_test.yml")):
        for case in _yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                _, rule = alerts[check["alertname"]]
                for expected in check.get("exp_alerts") or []:
                    assert set(rule["labels"]) <= set(expected["exp_labels"]), (path, check)
                    assert set(expected["exp_annotations"]) == set(rule["annotations"]), (
                        path,
                        check,
                    )


def _sections() -> dict[str, str]:
    """docs/operations.md: GitHub anchor of each `## ` heading -> its text."""
    text = OPERATIONS.read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for chunk in re.split(r"^## ", text, flags=re.M)[1:]:
        title, _, body = chunk.partition("\n")
        anchor = re.sub(r"[^a-z0-9 -]", "", title.strip().lower()).replace(" ", "-")
        out[anchor] = body
    return out


def test_each_runbook_entry_names_its_alert_and_metrics() -> None:
    sections = _sections()
    problems = []
    for name, (_, rule) in _alerts().items():
        link = rule["annotations"]["runbook"]
        assert link.startswith("docs/operations.md#"), (name, link)
        anchor = link.split("#", 1)[1]
        if anchor not in sections:
            problems.append(f"{name}: no section #{anchor}")
            continue
        body = sections[anchor]
        if f"`{name}`" not in body:
            problems.append(f"{name}: not named in #{anchor}")
        spans = " ".join(re.findall(r"`([^`]+)`", body))
        for metric in sorted(promql_metric_names(rule["expr"])):
            if not re.search(rf"(?<![A-Za-z0-9_]){re.escape(metric)}(?![A-Za-z0-9_])", spans):
                problems.append(f"{name}: metric {metric} not named (in `code`) in #{anchor}")
    assert not problems, "\n".join(problems)


def test_every_cerflow_metric_is_documented() -> None:
    text = OPERATIONS.read_text(encoding="utf-8") + (ROOT / "docs" / "deployment.md").read_text(
        encoding="utf-8"
    )
    bases = {
        re.sub(r"_(bucket|sum|count|created)$", "", n)
        for n in _exported_names()
        if n.startswith("cerflow_") and not n.endswith("_created")
    }
    undocumented = sorted(
        b for b in bases if b not in text and b.removesuffix("_total") not in text
    )
    assert not undocumented, f"metrics missing from docs/operations.md: {undocumented}"
    assert {"redis_memory_used_bytes", "redis_memory_max_bytes"} <= set(EXPORTER_METRICS)


# ------------------------------------------------------------------ PrometheusRule


def test_prometheusrule_is_generated_from_rules_yml() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "prometheus_rule.py"), "--check"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (rule,) = _docs(K8S / "prometheusrule.yaml")
    assert rule["kind"] == "PrometheusRule"
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == _yaml(RULES)["groups"]


def test_crd_files_stay_out_of_the_kustomization() -> None:
    resources = _yaml(K8S / "kustomization.yaml")["resources"]
    assert "prometheusrule.yaml" not in resources
    assert "keda.yaml" not in resources
    assert {"pdb.yaml", "redis-exporter.yaml"} <= set(resources)


# ------------------------------------------------------------------ Alertmanager


def test_alertmanager_config_passes_amtool() -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed (Debian package prometheus-alertmanager)")
    proc = subprocess.run(
        [amtool, "check-config", str(ALERTMANAGER)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "labels, receivers",
    [
        (["severity=critical", "alertname=CerflowRedisDown"], "email-operators,webhook-paging"),
        (["severity=warning", "alertname=CerflowQueueBacklog"], "email-operators"),
    ],
)
def test_alertmanager_routes(labels: list[str], receivers: str) -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed (Debian package prometheus-alertmanager)")
    proc = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == receivers


def test_alertmanager_config_holds_no_secret_and_every_receiver_is_used() -> None:
    config = _yaml(ALERTMANAGER)
    text = ALERTMANAGER.read_text(encoding="utf-8")
    assert "smtp_auth_password:" not in text and "credentials:" not in text
    assert config["global"]["smtp_auth_password_file"].startswith("/etc/alertmanager/secrets/")
    names = {r["name"] for r in config["receivers"]}
    routes = config["route"].get("routes", [])
    used = {config["route"]["receiver"]} | {r["receiver"] for r in routes}
    assert names == used == {"email-operators", "webhook-paging"}
    kinds = {k for r in config["receivers"] for k in r if k.endswith("_configs")}
    assert kinds == {"email_configs", "webhook_configs"}


def test_compose_runs_alertmanager_and_prometheus_uses_it() -> None:
    compose = _yaml(COMPOSE)
    service = compose["services"]["alertmanager"]
    mounts = " ".join(service["volumes"])
    assert "./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in mounts
    for secret in ("smtp_password", "webhook_token"):
        assert f"/etc/alertmanager/secrets/{secret}:ro" in mounts
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in service["command"]
    prometheus = _yaml(RULES.parent / "prometheus.yml")
    targets = [
        t
        for am in prometheus["alerting"]["alertmanagers"]
        for sc in am["static_configs"]
        for t in sc["targets"]
    ]
    assert targets == ["alertmanager:9093"]
    assert "alertmanager" in compose["services"]["prometheus"]["depends_on"]


# ------------------------------------------------------------------ Kubernetes extras


def _worker_deployments() -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d for d in _docs(K8S / "workers.yaml") if d["kind"] == "Deployment"
    }


def _queue_of(deployment: dict[str, Any]) -> str:
    (container,) = [
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "worker"
    ]
    argv = container["command"]
    return str(argv[argv.index("--queues") + 1])


def test_each_worker_deployment_has_a_pdb_that_selects_it() -> None:
    workers = _worker_deployments()
    pdbs = [d for d in _docs(K8S / "pdb.yaml") if d["kind"] == "PodDisruptionBudget"]
    assert len(pdbs) == len(workers) == 3
    for pdb in pdbs:
        deployment = workers[pdb["metadata"]["name"]]
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        # maxUnavailable (not minAvailable: 1) so a one-replica queue can still be drained.
        assert pdb["spec"] == {"maxUnavailable": 1, "selector": pdb["spec"]["selector"]}


def test_keda_scales_each_worker_on_its_own_queue() -> None:
    objects = _docs(K8S / "keda.yaml")
    workers = _worker_deployments()
    scaled = [o for o in objects if o["kind"] == "ScaledObject"]
    auths = {o["metadata"]["name"] for o in objects if o["kind"] == "TriggerAuthentication"}
    assert all(o["apiVersion"] == "keda.sh/v1alpha1" for o in objects)
    assert {o["spec"]["scaleTargetRef"]["name"] for o in scaled} == set(workers)
    for obj in scaled:
        spec = obj["spec"]
        deployment = workers[spec["scaleTargetRef"]["name"]]
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "redis"
        assert trigger["metadata"]["listName"] == _queue_of(deployment)
        assert int(trigger["metadata"]["listLength"]) >= 1
        assert trigger["authenticationRef"]["name"] in auths
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        # Never below what the Deployment asks for (reports runs two).
        assert spec["minReplicaCount"] >= deployment["spec"]["replicas"]


def test_redis_exporter_on_kubernetes_checks_every_queue() -> None:
    objects = {(o["kind"], o["metadata"]["name"]): o for o in _docs(K8S / "redis-exporter.yaml")}
    deployment = objects[("Deployment", "cerflow-redis-exporter")]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    keys = env["REDIS_EXPORTER_CHECK_SINGLE_KEYS"]["value"].split(",")
    assert sorted(keys) == sorted(f"db0={q}" for q in QUEUES)
    assert env["REDIS_ADDR"]["valueFrom"]["secretKeyRef"]["key"] == "CERFLOW_REDIS_URL"
    compose_keys = _yaml(COMPOSE)["services"]["redis-exporter"]["environment"][
        "REDIS_EXPORTER_CHECK_SINGLE_KEYS"
    ]
    assert sorted(compose_keys.split(",")) == sorted(keys)
    assert ("Service", "cerflow-redis-exporter") in objects
    assert ("NetworkPolicy", "redis-exporter-from-monitoring") in objects
    assert {_queue_of(d) for d in _worker_deployments().values()} == set(QUEUES)


def test_flower_is_optional_behind_basic_auth_on_loopback() -> None:
    compose = _yaml(COMPOSE)
    flower = compose["services"]["flower"]
    assert flower["profiles"] == ["flower"]  # not started by a plain `up -d`
    assert flower["environment"]["FLOWER_BASIC_AUTH"].startswith("admin:${FLOWER_PASSWORD:?")
    assert all(str(p).startswith("127.0.0.1:") for p in flower["ports"])
    assert "@redis:6379/0" in flower["environment"]["CELERY_BROKER_URL"]
    env_example = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    assert "\nFLOWER_PASSWORD=change-me" in env_example
