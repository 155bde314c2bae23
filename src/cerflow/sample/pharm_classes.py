"""The sample's drug classes: `openfda/drug_pharm_classes.json` (derived, not invented).

FAERS quarterly ASCII files carry no pharmacologic class; openFDA adds
`openfda.pharm_class_epc` to each harmonized drug of a `/drug/event` record. The sample's
drug reports are FAERS-format files, so their classes come in a small separate file of the
same field: for each sample drug its established pharmacologic class (EPC) as FDA's
Structured Product Labeling indexing names it (e.g. atorvastatin and rosuvastatin are both
``HMG-CoA Reductase Inhibitor [EPC]``). The class names are public FDA vocabulary; the
file is derived for the synthetic sample and says so in its `meta`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# generic name (as the sample's FAERS files spell it) -> EPC classes
EPC: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ATORVASTATIN CALCIUM", ("HMG-CoA Reductase Inhibitor [EPC]",)),
    ("ROSUVASTATIN CALCIUM", ("HMG-CoA Reductase Inhibitor [EPC]",)),
    ("METFORMIN HYDROCHLORIDE", ("Biguanide [EPC]",)),
    ("EZETIMIBE", ("Dietary Cholesterol Absorption Inhibitor [EPC]",)),
    ("ADALIMUMAB", ("Tumor Necrosis Factor Blocker [EPC]",)),
    ("ETANERCEPT", ("Tumor Necrosis Factor Blocker [EPC]",)),
    ("APIXABAN", ("Factor Xa Inhibitor [EPC]",)),
    ("RIVAROXABAN", ("Factor Xa Inhibitor [EPC]",)),
    ("SEMAGLUTIDE", ("GLP-1 Receptor Agonist [EPC]",)),
    ("DULAGLUTIDE", ("GLP-1 Receptor Agonist [EPC]",)),
    ("EMPAGLIFLOZIN", ("Sodium-Glucose Cotransporter 2 Inhibitor [EPC]",)),
    ("SITAGLIPTIN PHOSPHATE", ("Dipeptidyl Peptidase 4 Inhibitor [EPC]",)),
    ("OMEPRAZOLE", ("Proton Pump Inhibitor [EPC]",)),
    ("PANTOPRAZOLE SODIUM", ("Proton Pump Inhibitor [EPC]",)),
    ("SERTRALINE HYDROCHLORIDE", ("Serotonin Reuptake Inhibitor [EPC]",)),
    ("ESCITALOPRAM OXALATE", ("Serotonin Reuptake Inhibitor [EPC]",)),
)

PATH = "openfda/drug_pharm_classes.json"
META = {
    "disclaimer": (
        "DERIVED DATA for the cerflow synthetic sample: the established pharmacologic class "
        "(openfda.pharm_class_epc) of each sample drug, as FDA's SPL indexing names it. Not "
        "an openFDA response."
    ),
    "derived": True,
    "field": "openfda.pharm_class_epc",
    "terms": "https://open.fda.gov/terms/",
    "license": "https://open.fda.gov/license/",
}


def generate_pharm_classes(out_dir: Path, seed: int = 0) -> dict[str, Any]:
    """Write the class file; returns the manifest section (no randomness: seed unused)."""
    results = [{"generic_name": g, "pharm_class_epc": list(c)} for g, c in EPC]
    path = Path(out_dir) / PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"meta": META, "results": results}, indent=2) + "\n"
    path.write_bytes(text.encode("utf-8"))
    return {
        "files": [{"path": PATH, "field": "openfda.pharm_class_epc", "drugs": len(results)}],
        "derived": True,
        "statement": META["disclaimer"],
    }
