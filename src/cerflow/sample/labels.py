"""The bundled drug label: real FDA label text for the demo drug, not synthetic.

    answer = derive_label_answer(spl_bytes, location=...)   # scripts/derive_sample_label.py
    section = labels_section(sample_dir)                    # the manifest's "labels" entry

The sample's adverse-event data are invented, but a labelled-status check against an
invented label would prove nothing, so the sample carries one real label: FDA's Lipitor
(atorvastatin calcium) Structured Product Label from the openFDA pipeline's test data
(`openfda/spl/tests/data/lipitor-orig.xml`, FDA/openfda, CC0 1.0), converted to a
`/drug/label.json` answer by `cerflow.sources.spl` (openFDA's section rules) and cut to
what the check reads: the label's identity and names and its safety sections (boxed
warning, warnings and precautions, warnings, precautions, adverse reactions), without the
HTML tables. `scripts/derive_sample_label.py` rebuilds the file from the SPL; the sample
generator does not (it has no network and no copy of the SPL), it lists the file in the
manifest with its sha256 so an edited copy is refused like any sample file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cerflow.sources.spl import spl_to_label

LABEL_DIR = "labels"
LABEL_FILE = f"{LABEL_DIR}/drug_label_atorvastatin.json"
ENDPOINT = "/drug/label.json"
KEPT_FIELDS = (
    "set_id",
    "id",
    "version",
    "effective_time",
    "openfda",
    "boxed_warning",
    "warnings_and_cautions",
    "warnings",
    "precautions",
    "adverse_reactions",
)
DERIVED_FROM = (
    "derived from FDA's Lipitor (atorvastatin calcium) Structured Product Label, "
    "openfda/spl/tests/data/lipitor-orig.xml in FDA/openfda (CC0 1.0) at commit 2c15220, "
    "converted to openFDA's /drug/label.json form by cerflow.sources.spl and cut to the "
    "safety sections; real label text, not synthetic"
)
META = {
    "disclaimer": (
        "Derived for the cerflow sample from an FDA SPL file; not an openFDA answer. "
        "Do not rely on openFDA to make decisions regarding medical care."
    ),
    "license": "https://open.fda.gov/license/",
    "results": {"skip": 0, "limit": 1, "total": 1},
}


def derive_label_answer(spl: bytes, *, location: str) -> dict[str, Any]:
    """A one-label `/drug/label.json` answer from an SPL document (see the module doc)."""
    doc = spl_to_label(spl, location=location)
    label = {k: doc[k] for k in KEPT_FIELDS if k in doc}
    return {"meta": META, "results": [label]}


def write_label_answer(answer: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(answer, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    path.write_bytes(text.encode("utf-8"))


def labels_section(sample_dir: Path) -> dict[str, Any]:
    """The manifest's "labels" entry for the label file under `sample_dir`."""
    data = json.loads((sample_dir / LABEL_FILE).read_text(encoding="utf-8"))
    (label,) = data["results"]
    return {
        "files": [
            {
                "path": LABEL_FILE,
                "endpoint": ENDPOINT,
                "drug": "atorvastatin",
                "records": len(data["results"]),
                "set_id": label["set_id"],
                "version": label["version"],
                "effective_time": label["effective_time"],
                "derived_from": DERIVED_FROM,
            }
        ],
        "generated": False,
        "attribution": "Real FDA label text (public domain); " + DERIVED_FROM + ".",
    }
