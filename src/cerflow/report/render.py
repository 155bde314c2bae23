"""One call from `Facts` + `Narrative` to the report files: PDF, DOCX, HTML, facts.json.

    render_report(facts, narrative, out_dir, formats=("pdf", "docx", "html", "json"),
                  charts=None, pdf_renderer=None)
        -> {"pdf": path, "docx": path, "html": path, "json": path}

Why it is shaped like this:
- `facts.json` is written from `facts.to_json()` byte for byte: the SHA-256 printed in
  every footer is `facts.sha256()`, so anyone can check a document against its basis.
- Charts are drawn once: the same matplotlib figures give the SVGs (HTML/PDF) and the
  PNGs (DOCX). A caller that already has the SVGs passes `charts`; the PNGs are then drawn
  only if a DOCX is wanted.
- Every file is written to a temporary name and renamed, so a failed render never leaves a
  half-written report next to good ones.
- The PDF comes from Typst (`pdf_typst`, the default: a fraction of a second) or from
  WeasyPrint reading the HTML (`pdf`, several seconds on a large report), chosen by
  `pdf_renderer` or else the `CERFLOW_PDF_RENDERER` setting. Both write tagged PDF/A-3b
  with facts.json attached, from the same sections, tables and charts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cerflow.errors import CerflowError
from cerflow.narrative.facts import Facts
from cerflow.narrative.sections import Narrative
from cerflow.report import charts as charts_mod
from cerflow.report.cover import llm_note
from cerflow.report.html import render_html

FORMATS = ("pdf", "docx", "html", "json")
PDF_RENDERERS = ("typst", "weasyprint")


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


def _check_renderer(pdf_renderer: str | None) -> str:
    if pdf_renderer is None:
        from cerflow.config import get_settings

        pdf_renderer = get_settings().pdf_renderer
    if pdf_renderer not in PDF_RENDERERS:
        raise ReportFormatError(
            f"unknown PDF renderer {pdf_renderer!r}; choose from {', '.join(PDF_RENDERERS)}"
        )
    return pdf_renderer


def render_report(
    facts: Facts,
    narrative: Narrative,
    out_dir: Path,
    formats: Iterable[str] = FORMATS,
    charts: dict[str, str] | None = None,
    pdf_renderer: str | None = None,
) -> dict[str, Path]:
    """Write `<report_id>.pdf/.docx/.html` and `facts.json` into `out_dir`; the PDF by
    `pdf_renderer` ("typst" or "weasyprint"; None: the `pdf_renderer` setting)."""
    wanted = _check_formats(formats)
    renderer = _check_renderer(pdf_renderer) if "pdf" in wanted else ""
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
    if "html" in wanted or renderer == "weasyprint":
        html = render_html(facts, narrative, svgs or {})
    if "html" in wanted and html is not None:
        written["html"] = _atomic_write(out_dir / f"{stem}.html", html.encode("utf-8"))
    pdf_job: _PdfJob | None = None
    if renderer == "typst":
        # A fraction of a second, and Typst lays out on several threads itself: inline.
        pdf_job = _PdfJob(
            out_dir / f"{stem}.pdf", _typst_writer(facts, narrative, svgs or {}, facts_json)
        )
        pdf_job.start(parallel=False)
    elif renderer == "weasyprint" and html is not None:
        pdf_job = _PdfJob(out_dir / f"{stem}.pdf", _weasyprint_writer(facts, html, facts_json))
        # WeasyPrint is the slowest step; on a machine with a spare core it runs in a forked
        # child while this process writes the DOCX (see _PdfJob for when it may fork).
        pdf_job.start(parallel="docx" in wanted, preload=_preload_weasyprint)
    if "docx" in wanted:
        from cerflow.report.docx import write_docx

        # Rasterised only now, while a forked PDF child (if any) renders on the other core.
        pngs = {cid: charts_mod.figure_png(fig) for cid, fig in figures.items()}

        target = out_dir / f"{stem}.docx"
        tmp = target.with_name(f".{target.name}.tmp")
        write_docx(facts, narrative, tmp, chart_pngs=pngs, llm_note=llm_note(narrative))
        os.replace(tmp, target)
        written["docx"] = target
    if pdf_job is not None:
        written["pdf"] = pdf_job.wait()
    return written


def _typst_writer(
    facts: Facts, narrative: Narrative, svgs: dict[str, str], facts_json: bytes
) -> Callable[[Path], object]:
    def write(target: Path) -> object:
        from cerflow.report.pdf_typst import MissingGlyphError, write_pdf_typst

        try:
            return write_pdf_typst(facts, narrative, svgs, target, facts_json=facts_json)
        except MissingGlyphError as exc:
            # A character no installed font has: Typst refuses it under PDF/A; WeasyPrint
            # sets a blank glyph. One report's PDF from the other renderer beats none.
            import structlog

            structlog.get_logger(__name__).warning(
                "pdf_renderer_fallback",
                report_id=facts.meta.report_id,
                renderer="weasyprint",
                reason=str(exc)[:300],
            )
            html = render_html(facts, narrative, svgs)
            return _weasyprint_writer(facts, html, facts_json)(target)

    return write


def _weasyprint_writer(facts: Facts, html: str, facts_json: bytes) -> Callable[[Path], object]:
    def write(target: Path) -> object:
        from cerflow.report.pdf import write_pdf

        return write_pdf(
            html,
            target,
            report_id=facts.meta.report_id,
            version=facts.meta.version,
            facts_json=facts_json,
            generated_at=facts.meta.generated_at,
        )

    return write


def _preload_weasyprint() -> None:
    from cerflow.report import pdf as _pdf_module  # import before fork: once, in parent

    _pdf_module._weasyprint()


class _PdfJob:
    """Writes the PDF inline, or in a forked child while the parent does other work.

    It forks only where that is safe and useful: a POSIX `fork`, more than one CPU, and a
    single-threaded process (forking a process with other threads can deadlock the child
    on a lock one of them held, e.g. a logging handler's). Celery workers run a heartbeat
    thread, so they render inline; the CLI and benchmarks get the parallel path.
    """

    def __init__(self, target: Path, write: Callable[[Path], object]) -> None:
        self.target = target
        self.write = write
        self.tmp = target.with_name(f".{target.name}.tmp")
        self.pid: int | None = None
        self.err_read: int | None = None

    def _write(self) -> None:
        self.write(self.tmp)

    def start(self, *, parallel: bool, preload: Callable[[], None] | None = None) -> None:
        can_fork = (
            parallel
            and hasattr(os, "fork")
            and (os.cpu_count() or 1) > 1
            and threading.active_count() == 1
        )
        if not can_fork:
            try:
                self._write()
            except BaseException:
                self.tmp.unlink(missing_ok=True)
                raise
            return
        if preload is not None:
            preload()
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
