"""Device-event documents -> canonical reports, with the expected values worked out by hand.

Reports 538836 and 1511544 come through the bulk reader from FDA's real 2014 files; report
2549344 is openFDA's own `/device/event` documentation example. Enum spellings are checked
against openFDA's field dictionary (`deviceevent.yaml`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cerflow.etl.maude import (
    device_event_to_canonical,
    normalize_event_type,
    outcome_terms,
    patient_age_years,
    reporter_type,
)
from cerflow.etl.records import CanonicalEvent, CanonicalProduct, PartialDate
from cerflow.sources.base import SourceFormatError
from cerflow.sources.maude_bulk import MaudeBulkReader


@pytest.fixture(scope="module")
def bulk_docs(shared_data: Path) -> dict[str, dict[str, Any]]:
    reader = MaudeBulkReader([shared_data / "openfda_pipeline_tests/maude_2014"])
    return {r.payload["mdr_report_key"]: r.payload for r in reader}


@pytest.fixture(scope="module")
def fields(shared_data: Path) -> dict[str, Any]:
    data = yaml.safe_load((shared_data / "openfda_fields/deviceevent.yaml").read_text())
    return dict(data["properties"])


def test_report_538836_by_hand(bulk_docs: dict[str, dict[str, Any]]) -> None:
    rep = device_event_to_canonical(bulk_docs["538836"])
    assert (rep.source, rep.source_key, rep.kind) == ("maude", "538836", "device")
    assert rep.source_record_id == "2248721-2004-00001"
    assert rep.source_version == 0
    assert rep.received == PartialDate(dt.date(2004, 8, 1), "D")  # mdrfoi 08/01/2004
    assert rep.event is None  # date_of_event empty in mdrfoi
    assert rep.event_type == "injury"  # IN
    assert rep.reporter_type == "manufacturer"  # M
    # patient outcome "1,L;2,R;": life threatening and required intervention, nothing else
    assert rep.life_threatening and rep.required_intervention
    assert not (rep.death or rep.hospitalization or rep.disability or rep.congenital_anomaly)
    assert not rep.other_serious
    assert rep.serious is True
    assert (rep.sex, rep.age_years, rep.country) == (None, None, None)
    assert rep.products == [
        CanonicalProduct(
            role="device",
            product_key="JPA",
            raw_name="HEMOCHRON COAGULATION SYSTEM",
            seq=1,
            product_code="JPA",
            brand_name="HEMOCHRON COAGULATION SYSTEM",
            manufacturer="INTERNATIONAL TECHNIDYNE CORP.",
        )
    ]
    assert rep.events == []
    assert rep.narrative is not None
    assert rep.narrative.startswith("MFG RECEIVED REPORT FROM A PERFUSIONIST")
    assert rep.narrative.endswith("PT SUCCESSFULLY TRANSPLANTED EARLY NEXT MORNING.")
    assert "ETIOLOGY OF EVENT INVOLVES 3 DEVICES" not in rep.narrative  # type N, not D


def test_report_1511544_by_hand(bulk_docs: dict[str, dict[str, Any]]) -> None:
    rep = device_event_to_canonical(bulk_docs["1511544"])
    assert rep.source_record_id == "3007582679-2009-00011"
    assert rep.received == PartialDate(dt.date(2009, 10, 8), "D")
    assert rep.event == PartialDate(dt.date(2009, 9, 8), "D")
    assert rep.event_type == "injury"
    assert rep.other_serious  # outcome "1,O;"
    assert not (rep.death or rep.life_threatening or rep.hospitalization)
    assert rep.serious is True
    [product] = rep.products
    assert (product.product_key, product.brand_name, product.manufacturer) == (
        "GXI",
        '"TC 410, 20 GAUGE, 10MM DISPOS',
        "STRYKER NAVIGATION",
    )
    assert rep.narrative == (
        "AT THE END OF AN RF PROCEDURE, IT WAS NOTICED THAT THE PT SUSTAINED A SECOND DEGREE "
        "BURN WHERE THE NEEDLE WAS PLACED IN A SKIN FOLD ON THE BACK. THE BURN WAS 2 CM IN SIZE "
        "AND LOCATED IN THE LUMBAR REGION. THE BURN WAS TREATED WITH NEOSPORIN AND TEGADERM "
        "DRESSING. ORAL ANTIBIOTICS WERE ALSO PRESCRIBED. SCARRING IS EXPECTED."
    )


def test_openfda_api_example_maps(shared_data: Path) -> None:
    example = json.loads(
        (shared_data / "openfda_api_examples/device/event/_examples.json").read_text()
    )
    doc = dict(example["header"])
    doc.update(device=example["device"], patient=example["patient"], mdr_text=example["mdr_text"])
    rep = device_event_to_canonical(doc)
    assert rep.source_key == "2549344"
    assert rep.received == PartialDate(dt.date(2012, 4, 26), "D")
    assert rep.event == PartialDate(dt.date(2012, 4, 2), "D")
    assert rep.event_type == "malfunction"
    assert rep.serious is False and rep.death is False
    assert rep.reporter_type == "manufacturer"
    [product] = rep.products
    assert product.product_key == "NIQ"
    assert product.seq == 1  # " 1.0" in the API
    assert product.brand_name == "XIENCE V EVEROLIMUS ELUTING CORONARY STENT SYSTEM"
    assert product.manufacturer == "AV-TEMECULA-CT"
    assert rep.narrative is not None
    assert rep.narrative.startswith("IT WAS REPORTED THAT AFTER PRE-DILATATION")
    assert "(B)(4)" not in rep.narrative


def test_event_type_meanings_follow_openfda(fields: dict[str, Any]) -> None:
    values = fields["event_type"]["possible_values"]["value"]
    got = {v: normalize_event_type(re.sub(r"\s*\(.*\)$", "", v)) for v in values}
    assert got == {
        "Death": "death",
        "Injury (IN)": "injury",
        "Injury (IL)": "injury",
        "Injury (IJ)": "injury",
        "Malfunction": "malfunction",
        "Other": "other",
        "No answer provided": "no answer",
    }
    # Raw bulk codes give the same answers.
    assert [normalize_event_type(c) for c in ("D", "IN", "IL", "IJ", "M", "O", "*", "")] == [
        "death",
        "injury",
        "injury",
        "injury",
        "malfunction",
        "other",
        "no answer",
        None,
    ]


def test_reporter_meanings_follow_openfda(fields: dict[str, Any]) -> None:
    values = fields["report_source_code"]["possible_values"]["value"]
    assert {v: reporter_type(v) for v in values} == {
        "Manufacturer report": "manufacturer",
        "Voluntary report": "voluntary",
        "User facility report": "user_facility",
        "Distributor report": "distributor",
    }
    assert reporter_type("User Facility report") == "user_facility"  # FDA's enums.csv spelling


def test_outcome_meanings_follow_openfda(fields: dict[str, Any]) -> None:
    values = fields["patient"]["items"]["properties"]["sequence_number_outcome"]["items"]
    names = list(values["possible_values"]["value"])
    flags = {
        "Life Threatening": "life_threatening",
        "Hospitalization": "hospitalization",
        "Disability": "disability",
        "Congenital Anomaly": "congenital_anomaly",
        "Required Intervention": "required_intervention",
        "Death": "death",
        "Other": "other_serious",
    }
    all_flags = set(flags.values())
    for name in names:
        rep = device_event_to_canonical(
            {"mdr_report_key": "1", "patient": [{"sequence_number_outcome": [name]}]}
        )
        raised = {f for f in all_flags if getattr(rep, f)}
        assert raised == ({flags[name]} if name in flags else set()), name
    assert outcome_terms("1,L;2,R;") == ["Life Threatening", "Required Intervention"]
    assert outcome_terms(
        ["1, Life Threatening", "1, Life Threatening, 2, Required Intervention"]
    ) == [
        "Life Threatening",
        "Required Intervention",
    ]


def test_death_from_patient_outcome_makes_a_malfunction_serious() -> None:
    rep = device_event_to_canonical(
        {
            "mdr_report_key": "9",
            "event_type": "Malfunction",
            "patient": [{"sequence_number_outcome": ["Death"]}],
            "device": [{"device_report_product_code": " dqa "}],
        }
    )
    assert rep.death is True and rep.serious is True
    assert rep.products[0].product_key == "DQA"


def test_every_optional_part_may_be_missing() -> None:
    rep = device_event_to_canonical({"mdr_report_key": "42"})
    assert rep.source_key == "42"
    assert rep.products == [] and rep.events == []
    assert rep.received is None and rep.event is None and rep.narrative is None
    assert rep.serious is None and rep.event_type is None and rep.reporter_type is None
    rep = device_event_to_canonical(
        {"mdr_report_key": "43", "device": [{}], "patient": [{}], "mdr_text": [{}]}
    )
    assert rep.products == [CanonicalProduct(role="device", product_key="", seq=1)]


def test_current_layout_fields() -> None:
    rep = device_event_to_canonical(
        {
            "mdr_report_key": "77",
            "date_changed": "20230105",
            "reporter_country_code": "de",
            "event_type": "IN",
            "report_source_code": "U",
            "product_problems": ["Break", "Adverse Event Without Identified Device or Use Problem"],
            "device": [
                {
                    "device_report_product_code": "LZG",
                    "udi_di": "00884838014962",
                    "date_received": "20230101",
                }
            ],
            "patient": [
                {"patient_sequence_number": "1", "patient_age": "3 MO", "patient_sex": "Female"},
                {"patient_age": "65 YR", "patient_sex": "Male", "patient_problems": ["Pain "]},
            ],
        }
    )
    assert rep.source_version == 20230105
    assert rep.country == "DE"
    assert rep.received == PartialDate(dt.date(2023, 1, 1), "D")  # device date, no master row
    assert (rep.sex, rep.age_years) == ("F", 0.25)
    assert rep.reporter_type == "user_facility"
    assert rep.products[0].udi_di == "00884838014962"
    assert rep.events == [
        CanonicalEvent(term="break", term_raw="Break", term_type="device_problem"),
        CanonicalEvent(
            term="adverse event without identified device or use problem",
            term_raw="Adverse Event Without Identified Device or Use Problem",
            term_type="device_problem",
        ),
        CanonicalEvent(term="pain", term_raw="Pain", term_type="patient_problem"),
    ]


@pytest.mark.parametrize(
    ("raw", "years"),
    [
        ("65 YR", 65.0),
        ("45", 45.0),
        ("18 MONTHS", 1.5),
        ("14 DA", 0.038),
        ("UNK", None),
        ("", None),
    ],
)
def test_patient_age(raw: str, years: float | None) -> None:
    assert patient_age_years(raw) == years


def test_bad_date_names_report_and_field() -> None:
    with pytest.raises(SourceFormatError) as info:
        device_event_to_canonical({"mdr_report_key": "5", "date_of_event": "2012-13-45"})
    assert info.value.field == "date_of_event"
    assert "5" in info.value.location
