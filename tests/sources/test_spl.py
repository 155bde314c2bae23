"""SPL XML -> openFDA label JSON, on FDA's own Lipitor and Humira SPL files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cerflow.sources.base import SourceFormatError
from cerflow.sources.spl import SECTION_NAMES, section_field, spl_to_label
from tests.replay.labels import HUMIRA, HUMIRA_SET_ID, LIPITOR, LIPITOR_SET_ID, spl_label


def test_section_field_names_follow_openfda_rule() -> None:
    assert section_field("Dosage & Administration") == "dosage_and_administration"
    assert section_field("Warnings and cautions") == "warnings_and_cautions"
    assert section_field("Ask Doctor/Pharmacist") == "ask_doctor_or_pharmacist"
    assert section_field("Package Label: Principal Display Panel") == (
        "package_label_principal_display_panel"
    )
    assert section_field("SPL Unclassified") == "spl_unclassified_section"
    # openFDA reads its csv by commas: the name stops at the first one
    assert SECTION_NAMES["60562-6"] == "route"
    assert SECTION_NAMES["34084-4"] == "adverse_reactions"
    assert SECTION_NAMES["34066-1"] == "boxed_warning"


def test_every_section_name_is_a_field_of_the_label_schema(shared_data: Path) -> None:
    schema = json.loads((shared_data / "openfda_label/druglabel_schema.json").read_text())
    fields = set(schema["properties"])
    missing = sorted(set(SECTION_NAMES.values()) - fields)
    # The schema of 2c15220 lacks only the cellular therapy section (added to the csv later)
    assert missing == ["cellular_therapy"]


def test_lipitor_label(shared_data: Path) -> None:
    doc = spl_label(shared_data, LIPITOR)
    assert doc["set_id"] == LIPITOR_SET_ID
    assert doc["id"] == "20a11732-b9f5-4b59-9d86-c63f11b139d9"
    assert doc["version"] == "11"
    assert doc["effective_time"] == "20140113"
    assert doc["openfda"] == {"brand_name": ["LIPITOR"], "generic_name": ["ATORVASTATIN CALCIUM"]}
    assert "boxed_warning" not in doc  # Lipitor has none
    assert len(doc["adverse_reactions"]) == 1
    ar = doc["adverse_reactions"][0]
    assert ar.startswith("6 ADVERSE REACTIONS The following serious adverse reactions")
    assert "myalgia" in ar.lower()
    assert "  " not in ar  # whitespace collapsed
    wc = doc["warnings_and_cautions"][0]
    assert wc.startswith("5 WARNINGS AND PRECAUTIONS")
    assert "rhabdomyolysis" in wc.lower()
    assert doc["adverse_reactions_table"][0].startswith("<table")
    schema = json.loads((shared_data / "openfda_label/druglabel_schema.json").read_text())
    assert set(doc) <= set(schema["properties"])


def test_humira_label_has_its_boxed_warning_and_no_kit_part_names(shared_data: Path) -> None:
    doc = spl_label(shared_data, HUMIRA)
    assert doc["set_id"] == HUMIRA_SET_ID
    assert doc["version"] == "1560"
    assert doc["effective_time"] == "20130930"
    # the alcohol pads of the kit are parts, not the product
    assert doc["openfda"]["generic_name"] == ["ADALIMUMAB"]
    assert doc["openfda"]["brand_name"] == ["HUMIRA"]
    (boxed,) = doc["boxed_warning"]
    assert boxed.startswith("WARNING: SERIOUS INFECTIONS AND MALIGNANCY")
    assert "tuberculosis" in boxed.lower()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<document", "not well-formed SPL XML"),
        (b"<html/>", "not an HL7 SPL document"),
        (b'<document xmlns="urn:hl7-org:v3"><title>x</title></document>', "no setId"),
    ],
)
def test_bad_spl_names_the_file(data: bytes, message: str) -> None:
    with pytest.raises(SourceFormatError, match=message) as info:
        spl_to_label(data, location="/tmp/bad.xml")
    assert "/tmp/bad.xml" in str(info.value)
