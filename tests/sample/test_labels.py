"""The bundled drug label is exactly what the derivation makes of FDA's Lipitor SPL."""

from __future__ import annotations

import json
from pathlib import Path

from cerflow.analysis.labelling import LabelIndex
from cerflow.sample import SAMPLE_DIR, load_manifest
from cerflow.sample.labels import LABEL_FILE, derive_label_answer, write_label_answer


def test_bundled_label_equals_the_derivation(shared_data: Path, tmp_path: Path) -> None:
    spl = shared_data / "openfda_label" / "lipitor-orig.xml"
    answer = derive_label_answer(spl.read_bytes(), location=str(spl))
    out = tmp_path / "label.json"
    write_label_answer(answer, out)
    assert out.read_bytes() == (SAMPLE_DIR / LABEL_FILE).read_bytes()


def test_manifest_says_derived_not_generated() -> None:
    manifest = load_manifest(SAMPLE_DIR)
    (entry,) = manifest["labels"]["files"]
    assert entry["path"] == LABEL_FILE
    assert manifest["labels"]["generated"] is False
    assert "lipitor-orig.xml" in entry["derived_from"]
    assert LABEL_FILE in [f["path"] for f in manifest["files"]]


def test_planted_signal_and_statin_terms_are_in_the_bundled_label() -> None:
    """The sample plants atorvastatin x Rhabdomyolysis; the real label names it."""
    data = json.loads((SAMPLE_DIR / LABEL_FILE).read_text(encoding="utf-8"))
    (label,) = data["results"]
    index = LabelIndex(label)
    for term in ("Rhabdomyolysis", "Myalgia"):
        assert index.find(term) is not None, term
    assert index.find("Drug ineffective") is None
    assert "adverse_reactions_table" not in label  # cut to the text the check reads
