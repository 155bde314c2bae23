"""openFDA drug events -> canonical reports, checked against the real examples and the
openFDA field dictionary (openfda_fields/drugevent.yaml) and JSON schema."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cerflow.etl import openfda_drug as m
from cerflow.etl.normalize import sex_code
from cerflow.etl.records import PartialDate
from cerflow.sources.base import SourceFormatError
from tests.replay.openfda_server import load_examples


@pytest.fixture(scope="module")
def fields(shared_data: Path) -> dict[str, Any]:
    return yaml.safe_load((shared_data / "openfda_fields/drugevent.yaml").read_text())


@pytest.fixture
def doc(shared_data: Path) -> dict[str, Any]:
    return load_examples(shared_data).drug_event


@pytest.fixture
def pipeline_doc(shared_data: Path) -> dict[str, Any]:
    return load_examples(shared_data).drug_event_pipeline


def _field(fields: dict[str, Any], path: str) -> dict[str, Any]:
    node: dict[str, Any] = fields
    for part in path.split("."):
        props = node.get("properties") or node.get("items", {}).get("properties")
        assert props and part in props, f"{path}: {part} not in the field dictionary"
        node = props[part]
    return node


def _values(fields: dict[str, Any], path: str) -> dict[str, str]:
    pv = _field(fields, path)["possible_values"]
    assert pv["type"] == "one_of"
    return {str(k): str(v) for k, v in pv["value"].items()}


# Every field the ETL reads, with the type the ETL assumes.
READ_FIELDS = {
    "safetyreportid": "string",
    "safetyreportversion": "string",
    "receivedate": "string",
    "receiptdate": "string",
    "occurcountry": "string",
    "primarysourcecountry": "string",
    "serious": "string",
    "seriousnessdeath": "string",
    "seriousnesslifethreatening": "string",
    "seriousnesshospitalization": "string",
    "seriousnessdisabling": "string",
    "seriousnesscongenitalanomali": "string",
    "seriousnessother": "string",
    "primarysource.qualification": "string",
    "patient.patientonsetage": "string",
    "patient.patientonsetageunit": "string",
    "patient.patientsex": "string",
    "patient.drug.drugcharacterization": "string",
    "patient.drug.medicinalproduct": "string",
    "patient.drug.drugadministrationroute": "string",
    "patient.drug.activesubstance.activesubstancename": "string",
    "patient.drug.openfda.generic_name": "array",
    "patient.drug.openfda.substance_name": "array",
    "patient.drug.openfda.brand_name": "array",
    "patient.drug.openfda.manufacturer_name": "array",
    "patient.reaction.reactionmeddrapt": "string",
}


@pytest.mark.parametrize(("path", "kind"), sorted(READ_FIELDS.items()))
def test_every_field_read_is_in_the_dictionary(
    fields: dict[str, Any], shared_data: Path, path: str, kind: str
) -> None:
    assert _field(fields, path)["type"] == kind
    schema = json.loads((shared_data / "openfda_schemas/drugevent_schema.json").read_text())
    node = schema
    for part in path.split("."):
        props = node.get("properties") or node.get("items", {}).get("properties")
        assert part in props, f"{path} not in drugevent_schema.json"
        node = props[part]
    assert node["type"] == kind


def test_enumerations_match_the_dictionary(fields: dict[str, Any]) -> None:
    roles = _values(fields, "patient.drug.drugcharacterization")
    assert set(roles) == set(m.ROLES)
    for code, role in m.ROLES.items():
        assert roles[code].lower().startswith(role)
    serious = _values(fields, "serious")
    assert set(serious) == {"1", "2"} and "death" in serious["1"]
    sexes = _values(fields, "patient.patientsex")
    assert {c: sex_code(c) for c in sexes} == {"0": None, "1": "M", "2": "F"}
    assert sexes == {"0": "Unknown", "1": "Male", "2": "Female"}
    units = _values(fields, "patient.patientonsetageunit")
    assert units == {
        "800": "Decade",
        "801": "Year",
        "802": "Month",
        "803": "Week",
        "804": "Day",
        "805": "Hour",
    }
    qual = _values(fields, "primarysource.qualification")
    assert qual["1"] == "Physician" and qual["2"] == "Pharmacist" and qual["4"] == "Lawyer"
    assert set(qual) == set(m.REPORTER_TYPES)
    routes = _values(fields, "patient.drug.drugadministrationroute")
    assert routes == m.ROUTES


def test_age_units_convert_to_years(doc: dict[str, Any]) -> None:
    # hand calculations: 6 decades = 60 y; 18 months = 1.5 y; 104 weeks = 728/365.25 y
    for age, unit, years in [
        ("6", "800", 60.0),
        ("59", "801", 59.0),
        ("18", "802", 1.5),
        ("104", "803", round(104 * 7 / 365.25, 3)),
        ("730.5", "804", 2.0),
        ("48", "805", round(48 / 8766, 3)),
    ]:
        d = copy.deepcopy(doc)
        d["patient"]["patientonsetage"], d["patient"]["patientonsetageunit"] = age, unit
        assert m.drug_event_to_canonical(d).age_years == pytest.approx(years)


def test_documentation_example(doc: dict[str, Any]) -> None:
    rep = m.drug_event_to_canonical(doc, location="example")
    assert rep.source == "faers" and rep.kind == "drug"
    assert rep.source_key == "1234567" and rep.source_record_id == "1234567-8"
    assert rep.source_version == 17
    assert rep.received == PartialDate(dt.date(2004, 10, 25), "D")
    assert rep.country == "US"
    assert rep.sex == "F" and rep.age_years == 59.0
    assert rep.serious is True
    assert (rep.death, rep.life_threatening, rep.hospitalization) == (True, True, True)
    assert (rep.disability, rep.congenital_anomaly, rep.other_serious) == (True, True, True)
    assert rep.required_intervention is False
    assert rep.reporter_type == "MD"
    (product,) = rep.products
    assert product.role == "suspect"
    assert product.product_key == "ASCORBIC ACID"
    assert product.raw_name == "ASCORBIC ACID"
    assert product.brand_name == "ASCORBIC ACID"
    assert product.manufacturer == "The Torrance Company"
    assert product.route == "ORAL"
    assert product.seq == 1
    assert [e.term for e in rep.events] == [
        "osteonecrosis of jaw",
        "hypertension",
        "polytraumatism",
    ]
    assert rep.events[0].term_raw == "Osteonecrosis of jaw"


def test_pipeline_document_without_openfda_block(pipeline_doc: dict[str, Any]) -> None:
    """FDA's own FAERS fixture: no `openfda` block, no version, no country."""
    rep = m.drug_event_to_canonical(pipeline_doc)
    assert rep.source_key == "4562564" and rep.source_record_id == "4562564-7"
    assert rep.source_version == 0
    assert rep.received == PartialDate(dt.date(2005, 1, 27), "D")
    assert rep.country is None
    assert rep.serious is True and rep.death is False
    assert rep.disability and rep.hospitalization and rep.other_serious
    assert rep.sex == "F" and rep.age_years == 62.0
    drugs = pipeline_doc["patient"]["drug"]
    assert len(rep.products) == len(drugs)
    suspects = [p for p in rep.products if p.role == "suspect"]
    assert [p.product_key for p in suspects] == ["VIOXX", "VIOXX"]
    keys = {p.product_key for p in rep.products}
    assert "AMITRIPTYLINE" in keys  # salt dropped from the verbatim name
    assert "D / OS-CAL" in keys  # "OS-CAL + D": combination split and sorted
    assert len(rep.events) == len(pipeline_doc["patient"]["reaction"])


def test_harmonized_names_preferred_over_verbatim(doc: dict[str, Any]) -> None:
    d = copy.deepcopy(doc)
    drug = d["patient"]["drug"][0]
    drug["medicinalproduct"] = "TYLENOL EXTRA STRENGTH 500MG"
    drug["openfda"] = {
        "generic_name": ["ACETAMINOPHEN"],
        "substance_name": ["ACETAMINOPHEN"],
        "brand_name": ["TYLENOL"],
    }
    assert m.drug_event_to_canonical(d).products[0].product_key == "ACETAMINOPHEN"
    # ambiguous generic names -> the ingredient list
    drug["openfda"] = {
        "generic_name": ["HYDROCODONE BITARTRATE AND ACETAMINOPHEN", "ACETAMINOPHEN"],
        "substance_name": ["HYDROCODONE BITARTRATE", "ACETAMINOPHEN"],
    }
    assert m.drug_event_to_canonical(d).products[0].product_key == "ACETAMINOPHEN / HYDROCODONE"
    # no openfda block -> activesubstance, then the verbatim name
    del drug["openfda"]
    drug["activesubstance"] = {"activesubstancename": "PARACETAMOL"}
    assert m.drug_event_to_canonical(d).products[0].product_key == "PARACETAMOL"
    del drug["activesubstance"]
    assert m.drug_event_to_canonical(d).products[0].product_key == "TYLENOL EXTRA STRENGTH"


def test_minimal_record_tolerates_every_missing_optional_block() -> None:
    rep = m.drug_event_to_canonical({"safetyreportid": "10003300"})
    assert rep.source_key == "10003300" and rep.source_record_id == "10003300"
    assert rep.products == [] and rep.events == []
    assert rep.serious is None and rep.sex is None and rep.age_years is None
    assert rep.received is None and rep.reporter_type is None
    rep = m.drug_event_to_canonical(
        {
            "safetyreportid": "10003301",
            "receivedate": "201405",
            "patient": {
                "patientonsetage": "40",  # no unit: not guessed
                "drug": [{"medicinalproduct": "ASPIRIN"}, {"drugcharacterization": "1"}],
                "reaction": [{"reactionmeddrapt": "  Nausea "}, {}],
            },
        }
    )
    assert rep.received == PartialDate(dt.date(2014, 5, 1), "M")
    assert rep.age_years is None
    assert [(p.role, p.product_key) for p in rep.products] == [("concomitant", "ASPIRIN")]
    assert [e.term for e in rep.events] == ["nausea"]


DRUG0, REACTION1 = "patient.drug[0]", "patient.reaction[1]"


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("serious",), "3", "serious"),
        (("seriousnessdeath",), "yes", "seriousnessdeath"),
        (("safetyreportversion",), "v2", "safetyreportversion"),
        (("receivedate",), "2004-13-45", "receivedate"),
        (("patient", "patientonsetage"), "fifty", "patient.patientonsetage"),
        (("patient", "patientsex"), "X", "patient.patientsex"),
        (("patient", "drug"), "ASPIRIN", "patient.drug"),
        (
            ("patient", "drug", 0, "drugcharacterization"),
            "9",
            "patient.drug[0].drugcharacterization",
        ),
        (
            ("patient", "reaction", 1, "reactionmeddrapt"),
            ["x"],
            "patient.reaction[1].reactionmeddrapt",
        ),
        (("patient",), "none", "patient"),
    ],
)
def test_malformed_fields_name_record_and_field(
    doc: dict[str, Any], path: tuple[Any, ...], value: Any, field: str
) -> None:
    d = copy.deepcopy(doc)
    target: Any = d
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(SourceFormatError) as err:
        m.drug_event_to_canonical(d, location="https://api.fda.gov/drug/event.json")
    assert err.value.field == field
    assert "safetyreportid=1234567-8" in str(err.value)


def test_missing_id_is_an_error() -> None:
    with pytest.raises(SourceFormatError, match="missing safetyreportid"):
        m.drug_event_to_canonical({"patient": {}})


def test_source_key_rule() -> None:
    assert m.source_key("4562564-7") == "4562564"
    assert m.source_key("10003300") == "10003300"
    assert m.source_key("US-ABC-1") == "US-ABC-1"


def test_mapping_is_deterministic_for_idempotent_upserts(doc: dict[str, Any]) -> None:
    a = m.drug_event_to_canonical(copy.deepcopy(doc))
    b = m.drug_event_to_canonical(copy.deepcopy(doc))
    assert a.content_hash() == b.content_hash()
    d = copy.deepcopy(doc)
    d["patient"]["reaction"].append({"reactionmeddrapt": "Nausea"})
    assert m.drug_event_to_canonical(d).content_hash() != a.content_hash()
