"""One call from `Facts` + `Narrative` to the report files: PDF, DOCX, HTML, facts.json.

    render_report(facts, narrative, out_dir, formats=("pdf", "docx", "html", "json"),
                  charts=None) -> {"pdf": path, "docx": path, "html": path, "json": path}

Why it is shaped like this:
- `facts.json` is written from `facts.to_json()` byte for byte: the SHA-256 printed in
  every footer is `facts.sha256()`, so anyone can check a document against its basis.
- Charts are drawn once: the same matplotlib figures give the SVGs (HTML/PDF) and the
  PNGs (DOCX). A caller that already has the SVGs passes `charts`; the PNGs are then drawn
  only if a DOCX is wanted.
- Every file is written to a temporary name and renamed, so a failed render never leaves a
  half-written report next to good ones.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cerflow.errors import CerflowError
from cerflow.narrative.facts import Facts
from cerflow.narrative.sections import Narrative
from cerflow.report import charts as charts_mod
from cerflow.report.html import _llm_note, render_html

FORMATS = ("pdf", "docx", "html", "json")


class ReportFormatError(CerflowError, ValueError):
    """An output format that cerflow cannot write."""

    status_code = 422


def _check_formats(formats: Iterable[str]) -> list[str]:
    wanted = [f.strip().lower() for f in formats if f.strip()]
    unknown = sorted(set(wanted) - set(FORMATS))
    if unknown:
        raise ReportFormatError(
            f"unknown report format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}"
        )
    if not wanted:
        raise ReportFormatError(f"no report format given; choose from {', '.join(FORMATS)}")
    return [f for f in FORMATS if f in wanted]


def _atomic_write(target: Path, data: bytes) -> Path:
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def render_report(
    facts: Facts,
    narrative: Narrative,
    out_dir: Path,
    formats: Iterable[str] = FORMATS,
    charts: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Write `<report_id>.pdf/.docx/.html` and `facts.json` into `out_dir`."""
    wanted = _check_formats(formats)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = facts.meta.report_id
    facts_json = facts.to_json().encode()
    written: dict[str, Path] = {}

    svgs = charts
    needs_svg = svgs is None and ("pdf" in wanted or "html" in wanted)
    needs_png = "docx" in wanted
    figures: dict[str, Any] = {}
    if needs_svg or needs_png:
        figures = charts_mod.draw_charts(facts)
        if needs_svg:
            svgs = {cid: charts_mod.figure_svg(fig) for cid, fig in figures.items()}

    if "json" in wanted:
        written["json"] = _atomic_write(out_dir / "facts.json", facts_json)
    html: str | None = None
    if "html" in wanted or "pdf" in wanted:
        html = render_html(facts, narrative, svgs or {})
    if "html" in wanted and html is not None:
        written["html"] = _atomic_write(out_dir / f"{stem}.html", html.encode("utf-8"))
    pdf_job: _PdfJob | None = None
    if "pdf" in wanted and html is not None:
        pdf_job = _PdfJob(facts, html, facts_json, out_dir / f"{stem}.pdf")
        # WeasyPrint is the slowest step; on a machine with a spare core it runs in a forked
        # child while this process writes the DOCX (see _PdfJob for when it may fork).
        pdf_job.start(parallel="docx" in wanted)
    if "docx" in wanted:
        from cerflow.report.docx import write_docx

        # Rasterised only now, while a forked PDF child (if any) renders on the other core.
        pngs = {cid: charts_mod.figure_png(fig) for cid, fig in figures.items()}

        target = out_dir / f"{stem}.docx"
        tmp = target.with_name(f".{target.name}.tmp")
        write_docx(facts, narrative, tmp, chart_pngs=pngs, llm_note=_llm_note(narrative))
        os.replace(tmp, target)
        written["docx"] = target
    if pdf_job is not None:
        written["pdf"] = pdf_job.wait()
    return written


class _PdfJob:
    """Writes the PDF inline, or in a forked child while the parent does other work.

    It forks only where that is safe and useful: a POSIX `fork`, more than one CPU, and a
    single-threaded process (forking a process with other threads can deadlock the child
    on a lock one of them held, e.g. a logging handler's). Celery workers run a heartbeat
    thread, so they render inline; the CLI and benchmarks get the parallel path.
    """

    def __init__(self, facts: Facts, html: str, facts_json: bytes, target: Path) -> None:
        self.facts = facts
        self.html = html
        self.facts_json = facts_json
        self.target = target
        self.tmp = target.with_name(f".{target.name}.tmp")
        self.pid: int | None = None
        self.err_read: int | None = None

    def _write(self) -> None:
        from cerflow.report.pdf import write_pdf

        write_pdf(
            self.html,
            self.tmp,
            report_id=self.facts.meta.report_id,
            version=self.facts.meta.version,
            facts_json=self.facts_json,
            generated_at=self.facts.meta.generated_at,
        )

    def start(self, *, parallel: bool) -> None:
        can_fork = (
            parallel
            and hasattr(os, "fork")
            and (os.cpu_count() or 1) > 1
            and threading.active_count() == 1
        )
        if not can_fork:
            self._write()
            return
        from cerflow.report import pdf as _pdf_module  # import before fork: once, in parent

        _pdf_module._weasyprint()
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: render, report any error through the pipe, never return
            os.close(read_fd)
            code = 0
            try:
                self._write()
            except BaseException as exc:
                os.write(write_fd, f"{type(exc).__name__}: {exc}".encode()[:4000])
                code = 1
            finally:
                os.close(write_fd)
                os._exit(code)
        os.close(write_fd)
        self.pid, self.err_read = pid, read_fd

    def wait(self) -> Path:
        if self.pid is not None and self.err_read is not None:
            with os.fdopen(self.err_read, "rb") as fh:
                message = fh.read().decode(errors="replace")
            _, status = os.waitpid(self.pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                self.tmp.unlink(missing_ok=True)
                raise RuntimeError(f"PDF rendering failed: {message or 'child process died'}")
        os.replace(self.tmp, self.target)
        return self.target
