"""Rebuild the bundled sample's drug label from FDA's Lipitor SPL file.

    uv run python scripts/derive_sample_label.py ../shared/data/real/openfda_label/lipitor-orig.xml

Writes `src/cerflow/sample/data/labels/drug_label_atorvastatin.json` (see
`cerflow.sample.labels` for what is kept and why); then update the file's sha256 and size
in `src/cerflow/sample/data/manifest.json` (`python -m cerflow.sample` lists it).
"""

from __future__ import annotations

import sys
from pathlib import Path

from cerflow.sample.generate import SAMPLE_DIR
from cerflow.sample.labels import LABEL_FILE, derive_label_answer, write_label_answer


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    spl = Path(argv[0])
    answer = derive_label_answer(spl.read_bytes(), location=str(spl))
    out = SAMPLE_DIR / LABEL_FILE
    write_label_answer(answer, out)
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
