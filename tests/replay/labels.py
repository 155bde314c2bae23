"""Drug label records for the openFDA replay server, built from FDA's own SPL files.

    records = label_records(shared_data)                 # Lipitor and Humira
    OpenFDAReplayServer({"/drug/label.json": records})

The two SPL documents under `openfda_label/` (FDA/openfda's pipeline test data) go through
`cerflow.sources.spl.spl_to_label`, which applies openFDA's rules (sections by LOINC code,
named as openFDA names its label fields), so the replayed `/drug/label.json` answers carry
the real label text, set ids, versions and effective dates.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from cerflow.sources.spl import spl_to_label

LIPITOR = "lipitor-orig.xml"
HUMIRA = "humira.xml"
LIPITOR_SET_ID = "c6e131fe-e7df-4876-83f7-9156fc4e8228"
HUMIRA_SET_ID = "608d4f0d-b19f-46d3-749a-7159aa5f933d"


def spl_label(shared_data: Path, name: str) -> dict[str, Any]:
    path = shared_data / "openfda_label" / name
    return spl_to_label(path.read_bytes(), location=str(path))


def label_records(shared_data: Path) -> list[dict[str, Any]]:
    """The Lipitor and Humira labels as openFDA serves them."""
    return [spl_label(shared_data, LIPITOR), spl_label(shared_data, HUMIRA)]


def older_copy(label: dict[str, Any], *, set_id: str, effective_time: str) -> dict[str, Any]:
    """The same label under another set id and an older date (a repackager's label)."""
    doc = copy.deepcopy(label)
    doc["set_id"] = set_id
    doc["effective_time"] = effective_time
    return doc
