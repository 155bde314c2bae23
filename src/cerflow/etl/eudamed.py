"""EUDAMED records -> `CanonicalDevice`.

Three shapes arrive (see `cerflow.sources.eudamed`):

* public search result item (`/devices/udiDiData`): flat, `primaryDi`/`basicUdi` strings,
  `riskClass.code`, `manufacturerName`/`manufacturerSrn`, `deviceStatusType.code`;
* public detail (`/devices/udiDiData/{uuid}`): `primaryDi.code`, `tradeName.texts[]`,
  `reference`, `deviceStatus.type.code`, but no Basic UDI-DI, class or manufacturer (those
  live on the Basic UDI-DI record), so a detail enriches a search item via `merge_device`;
* data-lake `udi` record: upper-case fields, enumerations as negative numeric IDs
  (`RISK_CLASS_ID = -203.0` is class I) resolved by tables read from the data lake's
  `/reference` (field guide, 2026-08-17), multilingual fields as JSON inside a string.

Rules a notified body may ask about:
* risk class: `refdata.risk-class.class-iia` -> `IIa` (MDR I/IIa/IIb/III, IVDR A-D, legacy
  directive classes spelled out). An unknown but well-formed code gives `None`, never a
  guessed neighbour: a wrong class is worse than a missing one.
* trade name: English text if present, else the text marked valid for all languages, else
  the first text.
* model: `deviceModel` if given, else the catalogue `reference` number.
* status: the suffix of `refdata.device-model-status.*` (e.g. `on-the-market`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from cerflow.etl.records import CanonicalDevice
from cerflow.sources.base import SourceFormatError, SourceRecord

PUBLIC = "eudamed_public"
DATALAKE = "eudamed_datalake"

_RISK_PREFIX = "refdata.risk-class."
RISK_CLASSES: dict[str, str] = {
    "class-i": "I",
    "class-iia": "IIa",
    "class-iib": "IIb",
    "class-iii": "III",
    "class-a": "A",
    "class-b": "B",
    "class-c": "C",
    "class-d": "D",
    # Directive-era classes (AIMDD, IVDD Annex II); kept distinct from MDR/IVDR classes.
    "aimdd": "AIMD",
    "ivd-annex-ii-list-a": "IVDD List A",
    "ivd-annex-ii-list-b": "IVDD List B",
    "ivd-devices-self-testing": "IVDD self-test",
    "ivd-general": "IVDD general",
}
# Data-lake RISK_CLASS_ID -> refdata suffix (read from the data lake's /reference).
DATALAKE_RISK_CLASS_IDS: dict[float, str] = {
    -203.0: "class-i",
    -204.0: "class-iia",
    -205.0: "class-iib",
    -10.0: "class-iii",
    -199.0: "class-a",
    -200.0: "class-b",
    -201.0: "class-c",
    -202.0: "class-d",
    -219.0: "ivd-devices-self-testing",
}
_STATUS_PREFIX = "refdata.device-model-status."
DATALAKE_STATUS_IDS: dict[float, str] = {
    -11.0: "on-the-market",
    -12.0: "no-longer-on-the-market",
    -790.0: "not-intended-for-eu-market",
}


def _where(payload: Mapping[str, Any], location: str) -> str:
    uuid = payload.get("uuid") or payload.get("UUID")
    return f"{location} [record {uuid}]" if uuid else location


def _opt_str(payload: Mapping[str, Any], key: str, location: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SourceFormatError(
            f"expected text, got {type(value).__name__}",
            location=_where(payload, location),
            field=key,
        )
    return value.strip() or None


def _required_str(payload: Mapping[str, Any], key: str, location: str) -> str:
    value = _opt_str(payload, key, location)
    if value is None:
        raise SourceFormatError(
            "required identifier is missing", location=_where(payload, location), field=key
        )
    return value


def _code(payload: Mapping[str, Any], key: str, location: str) -> str | None:
    """`{"code": "refdata...."}` objects; `None` and `{"code": null}` mean not given."""
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise SourceFormatError(
            'expected an object like {"code": "refdata...."}',
            location=_where(payload, location),
            field=key,
        )
    code = value.get("code")
    if code is None:
        return None
    if not isinstance(code, str):
        raise SourceFormatError(
            "code is not text", location=_where(payload, location), field=f"{key}.code"
        )
    return code.strip() or None


def risk_class(code: str | None, *, location: str = "", field: str = "riskClass") -> str | None:
    """`refdata.risk-class.class-iib` (or bare `class-iib`) -> `IIb`; unknown -> None."""
    if code is None:
        return None
    text = code.strip().lower()
    if not text:
        return None
    if "." in text and not text.startswith(_RISK_PREFIX):
        raise SourceFormatError(
            f"not a risk-class code: {code!r}", location=location or "eudamed", field=field
        )
    return RISK_CLASSES.get(text.removeprefix(_RISK_PREFIX))


def device_status(code: str | None) -> str | None:
    """`refdata.device-model-status.on-the-market` -> `on-the-market`."""
    if not code:
        return None
    return code.strip().removeprefix(_STATUS_PREFIX) or None


def pick_text(value: Any, *, location: str, field: str, language: str = "en") -> str | None:
    """A EUDAMED multilingual text (`{"texts": [{"language": {"isoCode"}, "text"}]}`)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if not isinstance(value, Mapping) or not isinstance(value.get("texts"), list):
        raise SourceFormatError('expected text or {"texts": [...]}', location=location, field=field)
    texts: list[tuple[str | None, bool, str]] = []
    for entry in value["texts"]:
        if not isinstance(entry, Mapping):
            raise SourceFormatError("text entry is not an object", location=location, field=field)
        text = entry.get("text")
        if text is None:
            continue
        if not isinstance(text, str):
            raise SourceFormatError("text is not a string", location=location, field=field)
        lang = entry.get("language")
        iso = lang.get("isoCode") if isinstance(lang, Mapping) else None
        texts.append((iso, bool(entry.get("allLanguagesApplicable")), text.strip()))
    texts = [t for t in texts if t[2]]
    if not texts:
        return None
    for iso, _all, text in texts:
        if isinstance(iso, str) and iso.lower() == language:
            return text
    for _iso, all_languages, text in texts:
        if all_languages:
            return text
    return texts[0][2]


def device_from_search_item(
    payload: Mapping[str, Any], *, location: str = "eudamed:/devices/udiDiData"
) -> CanonicalDevice:
    """A `/devices/udiDiData` search result item."""
    where = _where(payload, location)
    return CanonicalDevice(
        source=PUBLIC,
        source_uuid=_required_str(payload, "uuid", location),
        udi_di=_required_str(payload, "primaryDi", location),
        basic_udi_di=_opt_str(payload, "basicUdi", location),
        trade_name=pick_text(payload.get("tradeName"), location=where, field="tradeName"),
        model=_opt_str(payload, "deviceModel", location)
        or _opt_str(payload, "reference", location),
        risk_class=risk_class(
            _code(payload, "riskClass", location), location=where, field="riskClass.code"
        ),
        manufacturer_name=_opt_str(payload, "manufacturerName", location)
        or pick_text(payload.get("manufacturerNames"), location=where, field="manufacturerNames"),
        manufacturer_srn=_opt_str(payload, "manufacturerSrn", location),
        status=device_status(_code(payload, "deviceStatusType", location)),
        raw=dict(payload),
    )


def device_from_detail(
    payload: Mapping[str, Any], *, location: str = "eudamed:/devices/udiDiData/{uuid}"
) -> CanonicalDevice:
    """A `/devices/udiDiData/{uuid}` detail record (no Basic UDI-DI, class or manufacturer)."""
    where = _where(payload, location)
    primary = payload.get("primaryDi")
    if not isinstance(primary, Mapping):
        raise SourceFormatError(
            'expected an object {"code": ...}', location=where, field="primaryDi"
        )
    udi_di = primary.get("code")
    if not isinstance(udi_di, str) or not udi_di.strip():
        raise SourceFormatError(
            "required identifier is missing", location=where, field="primaryDi.code"
        )
    status = payload.get("deviceStatus")
    status_code: str | None = None
    if status is not None:
        if not isinstance(status, Mapping):
            raise SourceFormatError("expected an object", location=where, field="deviceStatus")
        status_code = _code(status, "type", location)
    return CanonicalDevice(
        source=PUBLIC,
        source_uuid=_required_str(payload, "uuid", location),
        udi_di=udi_di.strip(),
        trade_name=pick_text(payload.get("tradeName"), location=where, field="tradeName"),
        model=_opt_str(payload, "deviceModel", location)
        or _opt_str(payload, "reference", location),
        status=device_status(status_code),
        raw=dict(payload),
    )


def _number(payload: Mapping[str, Any], key: str, location: str) -> float | None:
    value = payload.get(key)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SourceFormatError(
            f"expected a numeric ID, got {value!r}", location=_where(payload, location), field=key
        ) from None


def _json_text(payload: Mapping[str, Any], key: str, location: str) -> str | None:
    """Data-lake multilingual fields are JSON inside a string (`'{"texts": [...]}'`)."""
    value = payload.get(key)
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise SourceFormatError(
                f"invalid JSON text ({exc.msg})", location=_where(payload, location), field=key
            ) from None
    return pick_text(value, location=_where(payload, location), field=key)


def device_from_datalake(
    payload: Mapping[str, Any], *, location: str = "eudamed_datalake:/udi"
) -> CanonicalDevice:
    """A data-lake `udi` record."""
    risk_id = _number(payload, "RISK_CLASS_ID", location)
    status_id = _number(payload, "DEVICE_STATUS_TYPE_ID", location)
    return CanonicalDevice(
        source=DATALAKE,
        source_uuid=_required_str(payload, "UUID", location),
        udi_di=_required_str(payload, "PRIMARY_DI", location),
        basic_udi_di=_opt_str(payload, "BASIC_UDI", location),
        trade_name=_json_text(payload, "TRADE_NAME", location),
        model=_opt_str(payload, "DEVICE_MODEL", location)
        or _opt_str(payload, "REFERENCE", location),
        risk_class=RISK_CLASSES.get(DATALAKE_RISK_CLASS_IDS.get(risk_id, ""))
        if risk_id is not None
        else None,
        manufacturer_name=_opt_str(payload, "MF_NAME", location)
        or _json_text(payload, "MF_ACTOR_NAMES", location),
        manufacturer_srn=_opt_str(payload, "MF_SRN", location),
        status=DATALAKE_STATUS_IDS.get(status_id) if status_id is not None else None,
        raw=dict(payload),
    )


def to_canonical_device(record: SourceRecord) -> CanonicalDevice:
    """Dispatch on the record's origin (provenance source) and shape."""
    payload = record.payload
    location = record.provenance.location or record.provenance.source
    if record.provenance.source.startswith("eudamed_datalake") or "PRIMARY_DI" in payload:
        return device_from_datalake(payload, location=location)
    if record.kind == "device_detail" or isinstance(payload.get("primaryDi"), Mapping):
        return device_from_detail(payload, location=location)
    return device_from_search_item(payload, location=location)


def merge_device(base: CanonicalDevice, detail: CanonicalDevice) -> CanonicalDevice:
    """Fill what a search item lacks from the detail of the same device (never overwrite
    a value with None); the detail's raw record is kept under `raw["detail"]`."""
    if (base.source, base.source_uuid) != (detail.source, detail.source_uuid):
        raise ValueError(
            f"cannot merge {detail.source}:{detail.source_uuid} into "
            f"{base.source}:{base.source_uuid}: different devices"
        )
    return replace(
        base,
        udi_di=base.udi_di or detail.udi_di,
        trade_name=base.trade_name or detail.trade_name,
        model=base.model or detail.model,
        status=base.status or detail.status,
        raw={**base.raw, "detail": detail.raw},
    )
