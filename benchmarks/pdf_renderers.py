"""Benchmark: the CER's PDF from Typst (the product's default) and from WeasyPrint, side by side.

    uv run python benchmarks/pdf_renderers.py [--facts facts.json] [--runs 3] [--out DIR]

Why: issue 17 goal 4 (a 50,000-report CER under 5 s) found the PDF to be most of a
report's time with WeasyPrint; the product now renders it with Typst
(`CERFLOW_PDF_RENDERER=typst`, the default) and keeps WeasyPrint selectable. This keeps the
two measured on the same input: the `Facts` (from `--facts`, e.g. the facts.json that
`benchmarks/report.py` writes, or else a small generated SQLite store), the same
`Narrative` (every section: title page, contents, all chapters with their tables, the same
matplotlib SVG charts, the references chapter), each renderer through the product's path:
- Typst: `cerflow.report.pdf_typst.write_pdf_typst` (template
  `src/cerflow/report/templates/cer.typ`; the timed step includes building its JSON from
  the Narrative): PDF/A-3b + PDF/UA-1 (checked by Typst while compiling), tagged,
  facts.json attached (relationship Data).
- WeasyPrint: `cerflow.report.pdf.write_pdf` of `cerflow.report.html.render_html`'s HTML
  (the HTML is prepared beforehand, `html_s` below; the PDF step alone is timed):
  PDF/A-3b, tagged, facts.json attached.

Prints JSON: CPU seconds (the rendering process, all its threads: Typst lays out on
several) and wall seconds of the PDF step, min and median of `--runs`; each run is a fresh
process that first renders a tiny warm-up document (imports, fonts; Typst memoizes layout
within a process, so a second compile of the same document would be nearly free). Also
pages and bytes of each file, and `pdfinfo`'s Tagged / PDF version lines. The PDFs and a
PNG of pages 1 and 5 of each (pdftoppm) stay in `--out` for a look.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cerflow.narrative.facts import Facts
from cerflow.narrative.render import write_narrative
from cerflow.report import charts as charts_mod
from cerflow.report.html import render_html
from cerflow.report.pdf import write_pdf
from cerflow.report.pdf_typst import PDF_STANDARDS, typst_fonts, write_pdf_typst

HERE = Path(__file__).resolve().parent


def _facts(path: Path | None, work: Path) -> Facts:
    """From a facts.json, or from a small generated SQLite store (report.py's generator)."""
    if path is not None:
        return Facts.model_validate_json(path.read_text(encoding="utf-8"))
    sys.path.insert(0, str(HERE))
    import report as report_bench  # this folder, run as a script
    from cerflow.config import Settings
    from cerflow.db import make_engine
    from cerflow.report.facts_builder import build_facts
    from cerflow.store import migrate

    engine = make_engine(f"sqlite:///{work}/renderers.db")
    migrate.upgrade(engine)
    report_bench._fill(engine, 5_000, 5_000)
    try:
        return build_facts(engine, drug=report_bench.PRODUCT, settings=Settings())
    finally:
        engine.dispose()


def _child(renderer: str, work: Path, target: Path) -> None:
    """One timed render in a fresh process, after a warm-up render of a tiny document.

    Why a fresh process: Typst memoizes layout (comemo) in the process, so compiling the
    same document twice costs almost nothing the second time; a new report is a new
    document. The warm-up pays imports and font discovery, which a worker pays once.
    """
    meta = json.loads((work / "meta.json").read_text(encoding="utf-8"))
    facts_json = (work / "facts.json").read_bytes()
    if renderer == "weasyprint":
        import datetime as dt

        generated = dt.datetime.fromisoformat(meta["generated_at"])

        def render(html: str, out: Path) -> None:
            write_pdf(
                html,
                out,
                report_id=meta["report_id"],
                version=meta["version"],
                facts_json=facts_json,
                generated_at=generated,
            )

        render("<html lang=en><title>w</title><p>warm-up</p></html>", work / "warm.pdf")
        html = (work / "report.html").read_text(encoding="utf-8")
        c0, w0 = time.process_time(), time.perf_counter()
        render(html, target)
    else:
        import typst

        facts = Facts.model_validate_json(facts_json)
        narrative = write_narrative(facts)
        svgs = json.loads((work / "charts.json").read_text(encoding="utf-8"))
        typst.compile(  # warm-up: the product's font set (found once per process)
            b'#set document(title: "w")\n#set text(font: "DejaVu Sans", lang: "en")\nwarm-up\n',
            font_paths=typst_fonts(),
            pdf_standards=PDF_STANDARDS,
        )
        c0, w0 = time.process_time(), time.perf_counter()
        write_pdf_typst(facts, narrative, svgs, target, facts_json=facts_json)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    print(json.dumps({"cpu_s": cpu, "wall_s": wall}))


def _measure(renderer: str, work: Path, target: Path, runs: int) -> dict[str, Any]:
    cpu, wall = [], []
    for _ in range(runs):
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                renderer,
                "--work",
                str(work),
                "--target",
                str(target),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        cpu.append(figures["cpu_s"])
        wall.append(figures["wall_s"])
    return {
        "cpu_s_min": round(min(cpu), 3),
        "cpu_s_median": round(statistics.median(cpu), 3),
        "wall_s_min": round(min(wall), 3),
        "wall_s_median": round(statistics.median(wall), 3),
    }


def _inspect(pdf: Path) -> dict[str, Any]:
    """pdfinfo's pages / Tagged / version lines and PNGs of pages 1 and 5 (poppler)."""
    out: dict[str, Any] = {"bytes": pdf.stat().st_size}
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=False)
    for line in info.stdout.splitlines():
        key, _, value = line.partition(":")
        if key in {"Pages", "Tagged", "PDF version", "Creator", "Producer"}:
            out[key.lower().replace(" ", "_")] = value.strip()
    for page in (1, 5):
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "60",
                "-f",
                str(page),
                "-l",
                str(page),
                "-singlefile",
                str(pdf),
                str(pdf.with_suffix("")) + f"-p{page}",
            ],
            check=False,
            capture_output=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--facts", type=Path, help="a facts.json (default: generate a small store)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "cerflow-pdf-renderers"
    )
    parser.add_argument("--child", choices=["weasyprint", "typst"], help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--target", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.work, args.target)
        return
    import typst

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cerflow-renderers-"))
    load_before = os.getloadavg()
    facts = _facts(args.facts, work)
    narrative = write_narrative(facts)
    figures = charts_mod.draw_charts(facts)
    svgs = {cid: charts_mod.figure_svg(fig) for cid, fig in figures.items()}
    meta = facts.meta
    # Prepared once from the same Facts, Narrative and SVGs: the HTML WeasyPrint reads (a
    # fraction of a second, not in its timed step); Typst builds its JSON in its step.
    t0 = time.perf_counter()
    html = render_html(facts, narrative, svgs)
    html_s = time.perf_counter() - t0
    (work / "report.html").write_text(html, encoding="utf-8")
    (work / "facts.json").write_bytes(facts.to_json().encode())
    (work / "charts.json").write_text(json.dumps(svgs), encoding="utf-8")
    (work / "meta.json").write_text(
        json.dumps(
            {
                "report_id": meta.report_id,
                "version": meta.version,
                "generated_at": meta.generated_at.isoformat(),
            }
        ),
        encoding="utf-8",
    )
    weasy_pdf, typst_pdf = out / "weasyprint.pdf", out / "typst.pdf"
    results = {
        "typst": {
            "what": "the product's write_pdf_typst (templates/cer.typ), standards "
            f"{PDF_STANDARDS}, tagged, facts.json attached",
            "version": typst.__version__,
            **_measure("typst", work, typst_pdf, args.runs),
            **_inspect(typst_pdf),
        },
        "weasyprint": {
            "what": "write_pdf of render_html's HTML: PDF/A-3b, tagged, facts.json attached",
            "html_s": round(html_s, 3),
            **_measure("weasyprint", work, weasy_pdf, args.runs),
            **_inspect(weasy_pdf),
        },
    }
    ratio = results["typst"]["cpu_s_median"] / results["weasyprint"]["cpu_s_median"]
    print(
        json.dumps(
            {
                "benchmark": "pdf_renderers",
                "load_average_before": load_before,
                "load_average_after": os.getloadavg(),
                "product_reports": facts.volumes.total_reports,
                "sections": len(narrative.sections),
                "charts": sorted(svgs),
                "results": results,
                "typst_over_weasyprint_cpu": round(ratio, 3),
                "out": str(out),
            },
            indent=2,
        )
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
