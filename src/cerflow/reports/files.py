"""Where report jobs publish their files: `<data_dir>/reports/<job id>/`.

Shared by the report job (which writes there) and the download endpoint (which serves
only files under it), without the endpoint importing the report pipeline.
"""

from __future__ import annotations

from pathlib import Path


def reports_dir(data_dir: Path) -> Path:
    return data_dir / "reports"
