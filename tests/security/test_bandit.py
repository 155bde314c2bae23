"""bandit on src/: no high-severity finding (configured in pyproject `[tool.bandit]`).

Lower severities are reported by `bandit -r src -c pyproject.toml` for review; each
accepted high finding carries an inline `# nosec <id> - reason`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bandit_has_no_high_severity_findings() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bandit", "-r", "src", "-c", "pyproject.toml", "-f", "json", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(proc.stdout)
    assert not report["errors"], report["errors"]
    high = [
        f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_text']}"
        for r in report["results"]
        if r["issue_severity"] == "HIGH"
    ]
    assert not high, "\n".join(high)
