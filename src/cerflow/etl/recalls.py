"""openFDA recall and enforcement records -> `CanonicalRecall`.

Three sources, read against their field lists (`openfda_fields/*.yaml`):
- `/device/recall` ("device_recall"): keyed by `product_res_number` (the Z-number of the
  recalled product; `cfres_id` when it is missing). This endpoint has NO recall class:
  `openfda.device_class` is the device's risk class (1/2/3), not the recall's severity, so
  `classification` stays None rather than being guessed from it. Dates: initiated
  (`event_date_initiated`), posted/classified (`event_date_posted`, also used as the report
  date), terminated (`event_date_terminated`).
- `/device/enforcement` ("device_enforcement") and `/drug/enforcement`
  ("drug_enforcement"): keyed by `recall_number`; `classification` "Class I|II|III" ->
  I|II|III ("Not Yet Classified" -> None); dates `report_date`, `recall_initiation_date`,
  `center_classification_date`, `termination_date` (YYYYMMDD or YYYY-MM-DD).
- Drug product keys come from the harmonized `openfda.generic_name` / `substance_name`
  through `cerflow.store.keys.drug_key` (often empty on enforcement records: then no key, and the
  recall is still found by its description search).
A record without its key maps with an empty `recall_number`; the loader counts it rejected.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from cerflow.etl.normalize import parse_partial_date
from cerflow.etl.records import CanonicalRecall
from cerflow.sources.base import SourceFormatError
from cerflow.store.keys import device_code, drug_key

_CLASS = re.compile(r"^class\s+(iii|ii|i)$", re.IGNORECASE)
_UNCLASSIFIED = {"", "not yet classified", "unclassified", "n/a"}


class _Rec:
    def __init__(self, doc: Any, location: str, key_field: str) -> None:
        if not isinstance(doc, dict):
            raise SourceFormatError("record is not a JSON object", location=location)
        key = doc.get(key_field)
        self.doc: dict[str, Any] = doc
        self.location = f"{location} {key_field}={key}" if key else location

    def error(self, message: str, field: str) -> SourceFormatError:
        return SourceFormatError(message, location=self.location, field=field)

    def text(self, key: str, obj: dict[str, Any] | None = None, path: str = "") -> str | None:
        value = (self.doc if obj is None else obj).get(key)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise self.error(f"expected a string, got {type(value).__name__}", path or key)
        return value.strip() or None

    def openfda(self) -> dict[str, Any]:
        value = self.doc.get("openfda")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error("expected an object", "openfda")
        return value

    def strings(self, obj: dict[str, Any], key: str, path: str) -> list[str]:
        value = obj.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error("expected a list of strings", path)
        return [v.strip() for v in value if v.strip()]

    def date(self, key: str) -> dt.date | None:
        raw = self.text(key)
        try:
            parsed = parse_partial_date(raw)
        except (ValueError, KeyError):
            raise self.error(f"unparseable date {raw!r}", key) from None
        return parsed.value if parsed else None

    def classification(self) -> str | None:
        raw = self.text("classification")
        if raw is None or raw.lower() in _UNCLASSIFIED:
            return None
        m = _CLASS.match(raw)
        if not m:
            raise self.error(f"expected 'Class I', 'II' or 'III', got {raw!r}", "classification")
        return m.group(1).upper()


def _codes(raw: str | None) -> list[str]:
    out: list[str] = []
    for part in re.split(r"[,;\s]+", raw or ""):
        code = device_code(part)
        if code and re.fullmatch(r"[A-Z0-9]{3}", code) and code not in out:
            out.append(code)
    return out


def _drug_keys(rec: _Rec) -> list[str]:
    openfda = rec.openfda()
    names = rec.strings(openfda, "generic_name", "openfda.generic_name")
    if not names:
        subs = rec.strings(openfda, "substance_name", "openfda.substance_name")
        names = [" / ".join(subs)] if subs else []
    keys: list[str] = []
    for name in names:
        key = drug_key(name)
        if key and key not in keys:
            keys.append(key)
    return keys


def device_recall_to_canonical(
    doc: dict[str, Any], *, location: str = "openfda"
) -> CanonicalRecall:
    """One `/device/recall` record."""
    rec = _Rec(doc, f"{location} /device/recall", "product_res_number")
    number = rec.text("product_res_number")
    if not number:
        cfres = rec.text("cfres_id")
        number = f"cfres:{cfres}" if cfres else ""
    posted = rec.date("event_date_posted")
    return CanonicalRecall(
        source="device_recall",
        recall_number=number,
        product_type="device",
        classification=None,
        reason=rec.text("reason_for_recall"),
        status=rec.text("recall_status"),
        firm=rec.text("recalling_firm"),
        product_description=rec.text("product_description"),
        product_codes=_codes(rec.text("product_code")),
        product_keys=[],
        report_date=posted,
        initiation_date=rec.date("event_date_initiated"),
        classification_date=posted,
        termination_date=rec.date("event_date_terminated"),
        distribution=rec.text("distribution_pattern"),
        country=rec.text("country"),
    )


def enforcement_to_canonical(
    doc: dict[str, Any], kind: Literal["drug", "device"], *, location: str = "openfda"
) -> CanonicalRecall:
    """One `/drug/enforcement` or `/device/enforcement` record."""
    rec = _Rec(doc, f"{location} /{kind}/enforcement", "recall_number")
    return CanonicalRecall(
        source=f"{kind}_enforcement",
        recall_number=rec.text("recall_number") or "",
        product_type=kind,
        classification=rec.classification(),
        reason=rec.text("reason_for_recall"),
        status=rec.text("status"),
        firm=rec.text("recalling_firm"),
        product_description=rec.text("product_description"),
        product_codes=_codes(rec.text("product_code")) if kind == "device" else [],
        product_keys=_drug_keys(rec) if kind == "drug" else [],
        report_date=rec.date("report_date"),
        initiation_date=rec.date("recall_initiation_date"),
        classification_date=rec.date("center_classification_date"),
        termination_date=rec.date("termination_date"),
        distribution=rec.text("distribution_pattern"),
        country=rec.text("country"),
    )


def drug_enforcement_to_canonical(
    doc: dict[str, Any], *, location: str = "openfda"
) -> CanonicalRecall:
    return enforcement_to_canonical(doc, "drug", location=location)


def device_enforcement_to_canonical(
    doc: dict[str, Any], *, location: str = "openfda"
) -> CanonicalRecall:
    return enforcement_to_canonical(doc, "device", location=location)
