"""Reports as their readers see them: visibility and where a report's files are."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from cerflow.errors import NotFoundError
from cerflow.reports.files import reports_dir
from cerflow.reports.models import CerReport


def visible(*, session: Session, report_id: str, user_id: int, is_admin: bool) -> CerReport:
    """A report its owner (or an admin) may see; anyone else gets the same 404 as for none."""
    report = session.get(CerReport, report_id)
    if report is None or (report.owner_id != user_id and not is_admin):
        raise NotFoundError(f"no report with id {report_id}")
    return report


def file_path(*, report: CerReport, fmt: str, data_dir: Path) -> Path:
    """The file of one format, refused if absent or if its stored path leaves the folder."""
    rel = report.files.get(fmt)
    if not rel:
        raise NotFoundError(f"report {report.id} has no {fmt} file; it has {sorted(report.files)}")
    root = reports_dir(data_dir)
    path = (root / report.job_id / str(rel)).resolve()
    if not path.is_file() or root.resolve() not in path.parents:
        raise NotFoundError(f"the {fmt} file of report {report.id} is missing on disk")
    return path
