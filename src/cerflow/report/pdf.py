"""HTML -> PDF with WeasyPrint, aiming at PDF/A-3b with `facts.json` embedded.

Why it is shaped like this:
- PDF/A-3b is the archival profile that allows embedded files: the PDF carries the exact
  `facts.json` its footer hash refers to (AFRelationship /Data), so the document and its
  basis travel together.
- The file identifier is derived from the report id and version, and the document dates
  from `generated_at` (HTML `dcterms.created`), so re-rendering the same report does not
  produce a document that claims to be another one.
- Tagged (WeasyPrint's `pdf_tags`, a structure tree with /MarkInfo Marked true): headings,
  paragraphs, tables and figures are structure elements, and every chart carries its alt
  text (the SVG's <title>, set from the chart's caption in `html.py`). PDF/UA-1 itself is
  not claimed: WeasyPrint's PDF/UA variant and PDF/A-3b cannot be combined in one file,
  and PDF/A-3b is what carries facts.json.
- WeasyPrint needs Pango from the system (`scripts/ensure_sysdeps.sh`); a missing library
  is reported as such rather than as an obscure import error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from cerflow.errors import CerflowError

PDF_VARIANT = "pdf/a-3b"
PDF_TAGS = True  # a structure tree (tagged PDF) on top of PDF/A-3b


class PdfUnavailableError(CerflowError, RuntimeError):
    """WeasyPrint or its system libraries (Pango) cannot be loaded."""

    status_code = 503


def pdf_identifier(report_id: str, version: int) -> bytes:
    """A stable PDF file identifier: 32 hex digits from the report id and version."""
    return hashlib.sha256(f"cerflow:{report_id}:v{version}".encode()).hexdigest()[:32].encode()


def _weasyprint() -> Any:
    try:
        import weasyprint
    except OSError as exc:  # Pango/cairo shared libraries missing
        raise PdfUnavailableError(
            f"PDF output needs WeasyPrint's system libraries (Pango): {exc}. "
            "Run scripts/ensure_sysdeps.sh, or choose --format docx,html,json."
        ) from exc
    return weasyprint


def write_pdf(
    html: str,
    target: Path,
    *,
    report_id: str,
    version: int,
    facts_json: bytes,
    generated_at: dt.datetime,
) -> Path:
    """Render `html` to `target` as tagged PDF/A-3b with `facts.json` attached."""
    weasyprint = _weasyprint()
    attachment = weasyprint.Attachment(
        string=facts_json,
        name="facts.json",
        description="Every number of this report (the footer SHA-256 is over this file)",
        created=generated_at,
        modified=generated_at,
        relationship="Data",
    )
    document = weasyprint.HTML(string=html, base_url=str(target.parent)).render()
    document.write_pdf(
        target,
        pdf_variant=PDF_VARIANT,
        pdf_tags=PDF_TAGS,
        pdf_identifier=pdf_identifier(report_id, version),
        attachments=[attachment],
    )
    return target
