"""The forked-PDF path of `render_report` (WeasyPrint), run in a fresh single-threaded
interpreter.

pytest (and its xdist workers) run helper threads, where `render_report` deliberately
renders inline; a subprocess is the honest way to exercise the parallel path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pypdf
import pytest

from tests.conftest import REPO_ROOT

SCRIPT = """
import json, os, sys, threading
os.environ["CERFLOW_PDF_RENDERER"] = sys.argv[3]
from pathlib import Path
from cerflow.report import render
from tests.report.conftest import build_facts, build_narrative

forks = []
real_fork = os.fork
def counting_fork():
    pid = real_fork()
    if pid:
        forks.append(pid)
    return pid
os.fork = counting_fork
facts = build_facts()
if sys.argv[2] == "fail":
    import cerflow.report.pdf as pdf
    def broken(*a, **k):
        raise ValueError("font table exploded")
    pdf.write_pdf = broken
try:
    files = render.render_report(facts, build_narrative(facts), Path(sys.argv[1]))
    print(json.dumps({"forks": len(forks), "files": sorted(files), "sha": facts.sha256(),
                      "threads": threading.active_count()}))
except RuntimeError as exc:
    print(json.dumps({"forks": len(forks), "error": str(exc)}))
"""


def _run(out: Path, mode: str, renderer: str = "weasyprint") -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out), mode, renderer],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(("renderer", "forks"), [("weasyprint", 1), ("typst", 0)])
def test_pdf_rendered_in_a_forked_child_matches(tmp_path: Path, renderer: str, forks: int) -> None:
    """WeasyPrint (seconds) renders in a forked child beside the DOCX; Typst (a fraction
    of a second, several threads of its own) inline."""
    result = _run(tmp_path, "ok", renderer)
    assert result["forks"] == forks
    assert result["files"] == ["docx", "html", "json", "pdf"]
    pdf_path = next(tmp_path.glob("*.pdf"))
    reader = pypdf.PdfReader(pdf_path)
    assert len(reader.pages) > 3
    assert f"SHA-256: {result['sha']}" in reader.pages[-1].extract_text().replace("\n", " ")
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left behind


def test_a_failure_in_the_child_is_reported_and_leaves_no_pdf(tmp_path: Path) -> None:
    result = _run(tmp_path, "fail")
    assert result["forks"] == 1
    assert "PDF rendering failed: ValueError: font table exploded" in str(result["error"])
    assert not list(tmp_path.glob("*.pdf")) and not list(tmp_path.glob(".*.tmp"))
