"""EUDAMED -> CanonicalDevice, checked field by field against the real JSON files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cerflow.etl.eudamed import (
    device_from_datalake,
    device_from_detail,
    device_from_search_item,
    merge_device,
    pick_text,
    risk_class,
    to_canonical_device,
)
from cerflow.etl.records import CanonicalDevice
from cerflow.sources.base import Provenance, SourceFormatError, SourceRecord

ZIRKON_UUID = "c7418f9f-3f31-4329-b2c1-956377dbe23b"


def _real(shared_data: Path, name: str) -> Any:
    return json.loads((shared_data / "eudamed" / name).read_text(encoding="utf-8"))


@pytest.fixture
def zirkon_item(shared_data: Path) -> dict[str, Any]:
    page = _real(shared_data, "Delapro_README_07_devices_udiDiData_search_by_primaryDi.json")
    item: dict[str, Any] = page["content"][0]
    return item


@pytest.fixture
def zirkon_detail(shared_data: Path) -> dict[str, Any]:
    detail: dict[str, Any] = _real(shared_data, "Delapro_README_06_devices_udiDiData_detail.json")
    return detail


def test_search_item_maps_every_field(zirkon_item: dict[str, Any]) -> None:
    device = device_from_search_item(zirkon_item)
    assert device == CanonicalDevice(
        source="eudamed_public",
        source_uuid=ZIRKON_UUID,
        udi_di="E4947660611",
        basic_udi_di="++E494ZIRKON5F5",
        trade_name="Ceramill Zolid HT+ PS A3,5 71x16",
        model=None,  # deviceModel and reference are null in search results
        risk_class="IIa",  # refdata.risk-class.class-iia
        manufacturer_name="Amann Girrbach AG",
        manufacturer_srn="AT-MF-000000252",
        status="on-the-market",
        raw=zirkon_item,
    )


def test_search_by_srn_page(shared_data: Path) -> None:
    page = _real(shared_data, "Delapro_README_05_devices_udiDiData_search_by_srn.json")
    devices = [device_from_search_item(item) for item in page["content"]]
    assert len(devices) == 25
    first = devices[0]
    assert (first.udi_di, first.basic_udi_di, first.trade_name, first.risk_class) == (
        "E4942176111",
        "++E494ARTEX7L",
        "Bissgabel partiell (2 Stück)",
        "I",
    )
    assert {d.risk_class for d in devices} == {"I"}
    assert {d.manufacturer_srn for d in devices} == {"AT-MF-000000252"}
    # "Artex-Gesichtsbogen " carries a trailing space in EUDAMED; it is trimmed
    assert "Artex-Gesichtsbogen" in {d.trade_name for d in devices}


def test_detail_maps_what_it_has(zirkon_detail: dict[str, Any]) -> None:
    device = device_from_detail(zirkon_detail)
    assert device.source_uuid == ZIRKON_UUID
    assert device.udi_di == "E4947660611"  # primaryDi.code
    assert device.trade_name == "Ceramill Zolid HT+ PS A3,5 71x16"  # allLanguagesApplicable
    assert device.model == "766061"  # catalogue reference
    assert device.status == "on-the-market"  # deviceStatus.type.code
    assert (device.basic_udi_di, device.risk_class, device.manufacturer_srn) == (None, None, None)


def test_merge_fills_gaps_without_overwriting(
    zirkon_item: dict[str, Any], zirkon_detail: dict[str, Any]
) -> None:
    merged = merge_device(device_from_search_item(zirkon_item), device_from_detail(zirkon_detail))
    assert merged.model == "766061"
    assert merged.risk_class == "IIa"
    assert merged.basic_udi_di == "++E494ZIRKON5F5"
    assert merged.raw["detail"]["reference"] == "766061"
    assert merged.raw["primaryDi"] == "E4947660611"


def test_merge_refuses_different_devices(
    zirkon_item: dict[str, Any], zirkon_detail: dict[str, Any]
) -> None:
    other = dict(zirkon_detail, uuid="another")
    with pytest.raises(ValueError, match="different devices"):
        merge_device(device_from_search_item(zirkon_item), device_from_detail(other))


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("refdata.risk-class.class-i", "I"),
        ("refdata.risk-class.class-iia", "IIa"),
        ("refdata.risk-class.class-iib", "IIb"),
        ("refdata.risk-class.class-iii", "III"),
        ("refdata.risk-class.class-a", "A"),
        ("refdata.risk-class.class-b", "B"),
        ("refdata.risk-class.class-c", "C"),
        ("refdata.risk-class.class-d", "D"),
        ("REFDATA.RISK-CLASS.CLASS-IIB", "IIb"),
        ("class-iii", "III"),
        ("refdata.risk-class.ivd-annex-ii-list-a", "IVDD List A"),
        ("refdata.risk-class.class-zz", None),  # unknown: None, never a neighbour
        (None, None),
        ("", None),
    ],
)
def test_risk_class(code: str | None, expected: str | None) -> None:
    assert risk_class(code) == expected


def test_risk_class_rejects_other_vocabularies() -> None:
    with pytest.raises(SourceFormatError, match="not a risk-class code") as err:
        risk_class("refdata.device-model-status.on-the-market", location="x")
    assert err.value.field == "riskClass"


def test_pick_text_prefers_english_then_all_languages_then_first() -> None:
    de = {"language": {"isoCode": "de"}, "text": "Klammer", "allLanguagesApplicable": None}
    en = {"language": {"isoCode": "en"}, "text": "Clamp", "allLanguagesApplicable": None}
    al = {"language": None, "text": "CLAMP-X", "allLanguagesApplicable": True}
    assert pick_text({"texts": [de, en, al]}, location="l", field="f") == "Clamp"
    assert pick_text({"texts": [de, al]}, location="l", field="f") == "CLAMP-X"
    assert pick_text({"texts": [de]}, location="l", field="f") == "Klammer"
    assert pick_text({"texts": []}, location="l", field="f") is None
    assert pick_text(None, location="l", field="f") is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"uuid": None}, "uuid"),
        ({"primaryDi": 4947660611}, "primaryDi"),
        ({"riskClass": "refdata.risk-class.class-iia"}, "riskClass"),
        ({"riskClass": {"code": 3}}, "riskClass.code"),
        ({"tradeName": ["a"]}, "tradeName"),
        ({"deviceStatusType": "on"}, "deviceStatusType"),
    ],
)
def test_malformed_search_item_names_record_and_field(
    zirkon_item: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    bad = {**copy.deepcopy(zirkon_item), **change}
    with pytest.raises(SourceFormatError) as err:
        device_from_search_item(bad, location="https://eudamed.test/devices/udiDiData?page=0")
    assert err.value.field == field
    assert "https://eudamed.test/devices/udiDiData?page=0" in str(err.value)
    if change.get("uuid", "x") is not None:
        assert ZIRKON_UUID in str(err.value)


def test_missing_optional_fields_are_tolerated() -> None:
    device = device_from_search_item({"uuid": "u-1", "primaryDi": "E49400001"})
    assert (device.udi_di, device.trade_name, device.risk_class, device.status) == (
        "E49400001",
        None,
        None,
        None,
    )


def test_malformed_detail(zirkon_detail: dict[str, Any]) -> None:
    bad = dict(zirkon_detail, primaryDi={"code": None})
    with pytest.raises(SourceFormatError) as err:
        device_from_detail(bad)
    assert err.value.field == "primaryDi.code"


DATALAKE_RECORD: dict[str, Any] = {
    # Field names and value forms as documented by AG-Kollotzek/eudamed-api-field-guide
    # (docs/official-api.md); values are those of the real Zirkon device.
    "UUID": ZIRKON_UUID,
    "UDI_DI_DATA_ULID": "01FHFQWYDFE38DRFBWZXAPAGSC",
    "PRIMARY_DI": "E4947660611",
    "BASIC_UDI": "++E494ZIRKON5F5",
    "TRADE_NAME": "Ceramill Zolid HT+ PS A3,5 71x16",
    "DEVICE_MODEL": None,
    "REFERENCE": "766061",
    "RISK_CLASS_ID": -204.0,
    "DEVICE_STATUS_TYPE_ID": -11.0,
    "MF_SRN": "AT-MF-000000252",
    "MF_NAME": None,
    "MF_ACTOR_NAMES": '{"texts": [{"language": {"isoCode": "de", "name": "German"}, '
    '"text": "Amann Girrbach AG", "allLanguagesApplicable": null}]}',
    "VERSION_NUMBER": 1.0,
}


def test_datalake_record() -> None:
    device = device_from_datalake(DATALAKE_RECORD)
    assert device.source == "eudamed_datalake"
    assert device.source_uuid == ZIRKON_UUID
    assert (device.udi_di, device.basic_udi_di) == ("E4947660611", "++E494ZIRKON5F5")
    assert device.risk_class == "IIa"  # -204.0
    assert device.status == "on-the-market"  # -11.0
    assert device.manufacturer_name == "Amann Girrbach AG"  # JSON inside the string
    assert device.model == "766061"


@pytest.mark.parametrize(
    ("risk_id", "expected"),
    [(-203.0, "I"), (-205.0, "IIb"), (-10.0, "III"), (-199.0, "A"), (-202.0, "D"), (-1.0, None)],
)
def test_datalake_risk_ids(risk_id: float, expected: str | None) -> None:
    assert device_from_datalake({**DATALAKE_RECORD, "RISK_CLASS_ID": risk_id}).risk_class == (
        expected
    )


def test_datalake_malformed() -> None:
    with pytest.raises(SourceFormatError) as err:
        device_from_datalake({**DATALAKE_RECORD, "RISK_CLASS_ID": "class-iii"})
    assert err.value.field == "RISK_CLASS_ID"
    assert ZIRKON_UUID in str(err.value)
    with pytest.raises(SourceFormatError) as err:
        device_from_datalake({**DATALAKE_RECORD, "MF_ACTOR_NAMES": "{not json"})
    assert err.value.field == "MF_ACTOR_NAMES"


def test_dispatch_on_origin(zirkon_item: dict[str, Any], zirkon_detail: dict[str, Any]) -> None:
    def rec(kind: str, payload: dict[str, Any], source: str) -> SourceRecord:
        return SourceRecord(kind, payload, Provenance(source=source, location="http://x"))

    assert to_canonical_device(rec("device", zirkon_item, "eudamed:/devices/udiDiData")).risk_class
    detail = to_canonical_device(rec("device_detail", zirkon_detail, "eudamed:/d/{uuid}"))
    assert detail.model == "766061"
    lake = to_canonical_device(rec("device", DATALAKE_RECORD, "eudamed_datalake:/udi"))
    assert lake.source == "eudamed_datalake"


def test_same_input_same_hash(zirkon_item: dict[str, Any]) -> None:
    a = device_from_search_item(zirkon_item)
    b = device_from_search_item(copy.deepcopy(zirkon_item))
    assert a.content_hash() == b.content_hash()
    changed = device_from_search_item({**zirkon_item, "tradeName": "Other"})
    assert changed.content_hash() != a.content_hash()
