"""pip-audit on the locked dependencies (uv.lock), against PyPI's vulnerability data.

The lock is exported as a requirements file and audited without installing anything
(`--no-deps --disable-pip`). Responses are cached under `.tmp/pip-audit-cache`, so a run
without network reuses what an earlier networked run fetched. When no source answers for
any dependency (PyPI's per-version JSON and OSV both unreachable, as on a sandbox whose
PyPI mirror serves only the project pages) the test is skipped with that reason: an audit
that checked nothing must not pass as clean.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".tmp" / "pip-audit-cache"


def _audit(requirements: Path, service: str) -> dict[str, Any] | str:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip_audit",
            "-r",
            str(requirements),
            "--no-deps",
            "--disable-pip",
            "--vulnerability-service",
            service,
            "--cache-dir",
            str(CACHE),
            "--format",
            "json",
            "--progress-spinner",
            "off",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        result: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return result


@pytest.mark.slow
def test_locked_dependencies_have_no_known_vulnerabilities(tmp_path: Path) -> None:
    # `make test` exports UV (the uv it found or installed, often not on PATH).
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is neither in $UV nor on PATH: cannot export the lock file")
    requirements = tmp_path / "requirements.txt"
    exported = subprocess.run(
        [
            uv,
            "export",
            "--frozen",
            "--format",
            "requirements-txt",
            "--no-hashes",
            "--no-emit-project",
            "--all-groups",
            "-o",
            str(requirements),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    CACHE.mkdir(parents=True, exist_ok=True)
    reasons = []
    for service in ("pypi", "osv"):
        report = _audit(requirements, service)
        if isinstance(report, str):
            reasons.append(f"{service}: {report}")
            continue
        deps = report["dependencies"]
        audited = [d for d in deps if "skip_reason" not in d]
        if not audited:
            sample = deps[0]["skip_reason"] if deps else "no dependencies"
            reasons.append(f"{service}: no dependency could be audited ({sample})")
            continue
        vulnerable = [
            f"{d['name']} {d['version']}: " + ", ".join(v["id"] for v in d["vulns"])
            for d in audited
            if d["vulns"]
        ]
        assert not vulnerable, "upgrade with `uv lock --upgrade-package X`:\n" + "\n".join(
            vulnerable
        )
        return
    pytest.skip("no vulnerability data reachable; " + "; ".join(reasons))
