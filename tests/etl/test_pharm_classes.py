"""EPC classes from openFDA drug event documents (`cerflow.etl.pharm_classes`)."""

from __future__ import annotations

import pytest

from cerflow.etl.pharm_classes import classes_from_drug_event
from cerflow.sources.base import SourceFormatError


def _doc(openfda: object) -> dict[str, object]:
    return {
        "safetyreportid": "1",
        "patient": {
            "drug": [
                {"medicinalproduct": "LIPITOR", "openfda": openfda},
                {"medicinalproduct": "UNHARMONIZED"},  # no openfda block: no class
            ]
        },
    }


def test_class_is_kept_under_the_stored_product_key() -> None:
    doc = _doc(
        {
            "generic_name": ["ATORVASTATIN CALCIUM"],
            "pharm_class_epc": ["HMG-CoA Reductase Inhibitor [EPC]"],
        }
    )
    assert classes_from_drug_event(doc) == {("ATORVASTATIN", "HMG-CoA Reductase Inhibitor [EPC]")}


def test_malformed_class_field_is_named() -> None:
    with pytest.raises(SourceFormatError, match=r"patient\.drug\[0\]\.openfda\.pharm_class_epc"):
        classes_from_drug_event(_doc({"generic_name": ["X"], "pharm_class_epc": [3]}))
