"""Recall and enforcement records -> canonical recalls, against the real examples and the
field dictionaries (devicerecall/drugenforcement/deviceenforcement.yaml) and schemas."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cerflow.etl import recalls as m
from cerflow.sources.base import SourceFormatError
from tests.replay.openfda_server import load_examples, make_enforcements


def _dictionary(shared_data: Path, name: str) -> dict[str, Any]:
    return yaml.safe_load((shared_data / f"openfda_fields/{name}.yaml").read_text())["properties"]


DEVICE_RECALL_FIELDS = [
    "product_res_number",
    "cfres_id",
    "reason_for_recall",
    "recall_status",
    "recalling_firm",
    "product_description",
    "product_code",
    "event_date_posted",
    "event_date_initiated",
    "event_date_terminated",
    "distribution_pattern",
    "country",
]
ENFORCEMENT_FIELDS = [
    "recall_number",
    "classification",
    "reason_for_recall",
    "status",
    "recalling_firm",
    "product_description",
    "product_code",
    "report_date",
    "recall_initiation_date",
    "center_classification_date",
    "termination_date",
    "distribution_pattern",
    "country",
]
DATE_FIELDS = {
    "event_date_posted",
    "event_date_initiated",
    "event_date_terminated",
    "report_date",
    "recall_initiation_date",
    "center_classification_date",
    "termination_date",
}


@pytest.mark.parametrize(
    ("dictionary", "schema", "read"),
    [
        ("devicerecall", "devicerecall_schema.json", DEVICE_RECALL_FIELDS),
        ("drugenforcement", "recall_schema.json", ENFORCEMENT_FIELDS),
        ("deviceenforcement", "recall_schema.json", ENFORCEMENT_FIELDS),
    ],
)
def test_fields_read_exist_as_strings(
    shared_data: Path, dictionary: str, schema: str, read: list[str]
) -> None:
    props = _dictionary(shared_data, dictionary)
    schema_props = json.loads((shared_data / "openfda_schemas" / schema).read_text())["properties"]
    for name in read:
        assert props[name]["type"] == "string", name
        assert schema_props[name]["type"] == "string", name
        if name in DATE_FIELDS:
            assert props[name]["format"] == "date", name


def test_device_recall_has_no_recall_class_only_device_class(shared_data: Path) -> None:
    props = _dictionary(shared_data, "devicerecall")
    assert "classification" not in props
    device_class = props["openfda"]["properties"]["device_class"]["possible_values"]["value"]
    assert str(device_class["2"]).startswith("Class II (moderate to high risk)")


def test_classification_values_match_dictionary(shared_data: Path) -> None:
    for name in ("drugenforcement", "deviceenforcement"):
        values = _dictionary(shared_data, name)["classification"]["possible_values"]["value"]
        assert set(values) == {"Class I", "Class II", "Class III"}
        for label in values:
            doc = {"recall_number": "X-1", "classification": label}
            assert m.enforcement_to_canonical(doc, "drug").classification == label.split()[1]
    statuses = _dictionary(shared_data, "drugenforcement")["status"]["possible_values"]["value"]
    assert "Terminated" in statuses


def test_device_recall_real_example(shared_data: Path) -> None:
    ex = load_examples(shared_data)
    rec = m.device_recall_to_canonical(ex.device_recall)
    assert rec.source == "device_recall" and rec.product_type == "device"
    assert rec.recall_number == "Z-0053-2020"
    assert rec.classification is None  # device_class "2" is not the recall class
    assert rec.product_codes == ["FOZ"]
    assert rec.product_keys == []
    assert rec.firm == "Arrow International Inc"
    assert rec.status == "Terminated"
    assert rec.initiation_date == dt.date(2019, 5, 17)
    assert rec.termination_date == dt.date(2020, 9, 24)
    assert rec.report_date is None and rec.classification_date is None  # no event_date_posted
    assert rec.distribution == "US Nationwide Distribution"
    assert rec.reason and rec.reason.startswith("Lidstock contains a labeling error")
    other = m.device_recall_to_canonical(ex.extra["device_recall_record"])
    assert other.recall_number == "Z-0359-2013" and other.product_codes == ["NKB"]
    assert other.termination_date == dt.date(2012, 11, 19)


def test_drug_enforcement_real_example(shared_data: Path) -> None:
    ex = load_examples(shared_data)
    doc = make_enforcements(ex, "drug", 1)[0]
    rec = m.enforcement_to_canonical(doc, "drug")
    assert rec.source == "drug_enforcement" and rec.product_type == "drug"
    assert rec.recall_number == "D-1000-2013"
    assert rec.classification == "III"
    assert rec.status == "Ongoing"
    assert rec.firm == "Novartis Consumer Health"
    assert rec.initiation_date == dt.date(2013, 2, 19)  # ISO form in this example
    assert rec.report_date == dt.date(2013, 1, 1)
    assert rec.product_keys == []  # empty openfda block in the real example
    assert rec.product_codes == []
    assert rec.country == "US"
    # the example as published has no recall_number: key left empty for the loader to reject
    assert m.drug_enforcement_to_canonical(ex.drug_enforcement).recall_number == ""


def test_device_enforcement_real_example(shared_data: Path) -> None:
    ex = load_examples(shared_data)
    rec = m.device_enforcement_to_canonical(ex.device_enforcement)
    assert rec.source == "device_enforcement" and rec.classification == "II"
    assert rec.initiation_date == dt.date(2012, 7, 16)  # YYYYMMDD form in this example
    assert rec.report_date == dt.date(2012, 8, 15)
    assert rec.product_codes == []
    doc = make_enforcements(ex, "device", 2)[1]
    assert m.device_enforcement_to_canonical(doc).product_codes == ["NIQ"]


def test_drug_product_keys_from_harmonized_names(shared_data: Path) -> None:
    doc = copy.deepcopy(load_examples(shared_data).drug_enforcement)
    doc["recall_number"] = "D-1-2013"
    doc["openfda"] = {"generic_name": ["TERBINAFINE HYDROCHLORIDE"], "brand_name": ["LAMISIL"]}
    assert m.drug_enforcement_to_canonical(doc).product_keys == ["TERBINAFINE"]
    doc["openfda"] = {"substance_name": ["HYDROCODONE BITARTRATE", "ACETAMINOPHEN"]}
    assert m.drug_enforcement_to_canonical(doc).product_keys == ["ACETAMINOPHEN / HYDROCODONE"]


def test_tolerates_missing_optional_fields() -> None:
    rec = m.enforcement_to_canonical({"recall_number": "Z-9-2020"}, "device")
    assert rec.recall_number == "Z-9-2020" and rec.classification is None
    assert rec.report_date is None and rec.product_codes == []
    rec = m.device_recall_to_canonical({"cfres_id": "12345"})
    assert rec.recall_number == "cfres:12345"
    assert m.device_recall_to_canonical({}).recall_number == ""
    doc = {"recall_number": "D-2-2020", "classification": "Not Yet Classified"}
    assert m.enforcement_to_canonical(doc, "drug").classification is None


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"recall_number": "D-3", "classification": "Class IV"}, "classification"),
        ({"recall_number": "D-3", "report_date": "2013-99-01"}, "report_date"),
        ({"recall_number": "D-3", "openfda": []}, "openfda"),
        ({"recall_number": "D-3", "openfda": {"generic_name": [1]}}, "openfda.generic_name"),
        ({"recall_number": "D-3", "recalling_firm": {"x": 1}}, "recalling_firm"),
    ],
)
def test_malformed_fields_name_record_and_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(SourceFormatError) as err:
        m.drug_enforcement_to_canonical(doc, location="https://api.fda.gov")
    assert err.value.field == field
    assert "recall_number=D-3" in str(err.value)
