"""openFDA `/drug/event` documents -> `CanonicalReport` (source "faers", kind "drug").

Identity and dedup (documented because a notified body may ask how duplicates were removed):
- `safetyreportid` is the FAERS case: the field list calls it "the case report number or
  case ID". FAERS-era ids (2012 on) are the bare case id, e.g. `10003300`, equal to the
  quarterly files' `caseid`. Legacy AERS ids carry a check digit after a hyphen
  (`4562564-7`: FDA's own pipeline fixture annotates it as case number `4562564`). The
  check digit is not a version, so `source_key` is the part before the hyphen and the
  verbatim id is kept in `source_record_id`. The same case therefore has the same key
  whether it came from openFDA or from the FAERS ASCII files, and the loader keeps one row.
- openFDA serves only the latest version of a case. `safetyreportversion`, when present,
  becomes `source_version` (FAERS `caseversion`); when absent it is 0, so an openFDA copy
  never replaces a stored row that carries an explicit, later case version.

Other rules:
- Roles from `drugcharacterization`: 1 suspect, 2 concomitant, 3 interacting. A drug without
  it is kept as concomitant: an unqualified drug must not inflate suspect counts.
- Product key via `cerflow.store.keys.drug_key`, from the first usable of: openFDA's harmonized
  `generic_name` (when all its entries give one key), `substance_name` (the ingredient list,
  joined), `activesubstance.activesubstancename`, the verbatim `medicinalproduct`.
- Seriousness flags are `1` when present and absent otherwise (field list); `serious` is
  1 yes / 2 no. FAERS ASCII has `required_intervention`; openFDA does not, so it stays False.
- Age only with its unit (`patientonsetageunit`): an age without unit is not guessed.
- Reporter `primarysource.qualification` 1-5 maps to FAERS `occp_cod` MD/PH/OT/LW/CN.
- Received date is `receivedate` (first receipt by FDA), else `receiptdate`.
"""

from __future__ import annotations

from typing import Any

from cerflow.etl.normalize import age_in_years, parse_partial_date, sex_code
from cerflow.etl.records import CanonicalEvent, CanonicalProduct, CanonicalReport, PartialDate, Role
from cerflow.sources.base import SourceFormatError
from cerflow.store.keys import drug_key, term_key

SOURCE = "faers"
ROLES: dict[str, Role] = {"1": "suspect", "2": "concomitant", "3": "interacting"}
REPORTER_TYPES = {"1": "MD", "2": "PH", "3": "OT", "4": "LW", "5": "CN"}
SERIOUSNESS_FLAGS = {
    "seriousnessdeath": "death",
    "seriousnesslifethreatening": "life_threatening",
    "seriousnesshospitalization": "hospitalization",
    "seriousnessdisabling": "disability",
    "seriousnesscongenitalanomali": "congenital_anomaly",
    "seriousnessother": "other_serious",
}
# E2B route codes, as in openfda_fields/drugevent.yaml; upper-cased like FAERS ASCII `route`.
ROUTES = {
    "001": "Auricular (otic)",
    "002": "Buccal",
    "003": "Cutaneous",
    "004": "Dental",
    "005": "Endocervical",
    "006": "Endosinusial",
    "007": "Endotracheal",
    "008": "Epidural",
    "009": "Extra-amniotic",
    "010": "Hemodialysis",
    "011": "Intra corpus cavernosum",
    "012": "Intra-amniotic",
    "013": "Intra-arterial",
    "014": "Intra-articular",
    "015": "Intra-uterine",
    "016": "Intracardiac",
    "017": "Intracavernous",
    "018": "Intracerebral",
    "019": "Intracervical",
    "020": "Intracisternal",
    "021": "Intracorneal",
    "022": "Intracoronary",
    "023": "Intradermal",
    "024": "Intradiscal (intraspinal)",
    "025": "Intrahepatic",
    "026": "Intralesional",
    "027": "Intralymphatic",
    "028": "Intramedullar (bone marrow)",
    "029": "Intrameningeal",
    "030": "Intramuscular",
    "031": "Intraocular",
    "032": "Intrapericardial",
    "033": "Intraperitoneal",
    "034": "Intrapleural",
    "035": "Intrasynovial",
    "036": "Intratumor",
    "037": "Intrathecal",
    "038": "Intrathoracic",
    "039": "Intratracheal",
    "040": "Intravenous bolus",
    "041": "Intravenous drip",
    "042": "Intravenous (not otherwise specified)",
    "043": "Intravesical",
    "044": "Iontophoresis",
    "045": "Nasal",
    "046": "Occlusive dressing technique",
    "047": "Ophthalmic",
    "048": "Oral",
    "049": "Oropharingeal",
    "050": "Other",
    "051": "Parenteral",
    "052": "Periarticular",
    "053": "Perineural",
    "054": "Rectal",
    "055": "Respiratory (inhalation)",
    "056": "Retrobulbar",
    "057": "Sunconjunctival",
    "058": "Subcutaneous",
    "059": "Subdermal",
    "060": "Sublingual",
    "061": "Topical",
    "062": "Transdermal",
    "063": "Transmammary",
    "064": "Transplacental",
    "065": "Unknown",
    "066": "Urethral",
    "067": "Vaginal",
}


class _Doc:
    """Typed access to one document; every failure names the report and the field."""

    def __init__(self, doc: dict[str, Any], location: str) -> None:
        self.doc = doc
        self.location = location

    def error(self, message: str, field: str) -> SourceFormatError:
        return SourceFormatError(message, location=self.location, field=field)

    def text(self, obj: dict[str, Any], key: str, path: str) -> str | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise self.error(f"expected a string, got {type(value).__name__}", path)
        return value.strip() or None

    def obj(self, obj: dict[str, Any], key: str, path: str) -> dict[str, Any]:
        value = obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(f"expected an object, got {type(value).__name__}", path)
        return value

    def items(self, obj: dict[str, Any], key: str, path: str) -> list[dict[str, Any]]:
        value = obj.get(key)
        if value is None:
            return []
        if isinstance(value, dict):  # a single item where a list is expected
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error("expected a list of objects", path)
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

    def date(self, obj: dict[str, Any], key: str, path: str) -> PartialDate | None:
        raw = self.text(obj, key, path)
        try:
            return parse_partial_date(raw)
        except (ValueError, KeyError):
            raise self.error(f"unparseable date {raw!r} (expected YYYYMMDD)", path) from None

    def flag(self, obj: dict[str, Any], key: str, path: str) -> bool:
        raw = self.text(obj, key, path)
        if raw in (None, "2", "0"):
            return False
        if raw == "1":
            return True
        raise self.error(f"expected 1 or absent, got {raw!r}", path)


def _product_key(d: _Doc, drug: dict[str, Any], path: str) -> str:
    openfda = d.obj(drug, "openfda", f"{path}.openfda")
    generic = {k for k in (drug_key(g) for g in d.strings(openfda, "generic_name", path)) if k}
    if len(generic) == 1:
        return generic.pop()
    substances = d.strings(openfda, "substance_name", f"{path}.openfda.substance_name")
    if substances:
        key = drug_key(" / ".join(substances))
        if key:
            return key
    active = d.obj(drug, "activesubstance", f"{path}.activesubstance")
    name = d.text(active, "activesubstancename", f"{path}.activesubstance.activesubstancename")
    key = drug_key(name)
    if key:
        return key
    return drug_key(d.text(drug, "medicinalproduct", f"{path}.medicinalproduct"))


def _products(d: _Doc, patient: dict[str, Any]) -> list[CanonicalProduct]:
    out: list[CanonicalProduct] = []
    for i, drug in enumerate(d.items(patient, "drug", "patient.drug")):
        path = f"patient.drug[{i}]"
        code = d.text(drug, "drugcharacterization", f"{path}.drugcharacterization")
        if code is not None and code not in ROLES:
            raise d.error(f"unknown role {code!r} (1, 2 or 3)", f"{path}.drugcharacterization")
        key = _product_key(d, drug, path)
        if not key:
            continue  # no name at all: nothing to group it under
        openfda = d.obj(drug, "openfda", f"{path}.openfda")
        brands = d.strings(openfda, "brand_name", f"{path}.openfda.brand_name")
        makers = d.strings(openfda, "manufacturer_name", f"{path}.openfda.manufacturer_name")
        route = d.text(drug, "drugadministrationroute", f"{path}.drugadministrationroute")
        out.append(
            CanonicalProduct(
                role=ROLES[code] if code else "concomitant",
                product_key=key,
                raw_name=d.text(drug, "medicinalproduct", f"{path}.medicinalproduct"),
                seq=i + 1,
                brand_name=brands[0] if brands else None,
                manufacturer=makers[0] if makers else None,
                route=ROUTES[route].upper() if route in ROUTES else route,
            )
        )
    return out


def _events(d: _Doc, patient: dict[str, Any]) -> list[CanonicalEvent]:
    out: list[CanonicalEvent] = []
    for i, reaction in enumerate(d.items(patient, "reaction", "patient.reaction")):
        raw = d.text(reaction, "reactionmeddrapt", f"patient.reaction[{i}].reactionmeddrapt")
        term = term_key(raw)
        if term:
            out.append(CanonicalEvent(term=term, term_raw=raw, term_type="pt"))
    return out


def source_key(safetyreportid: str) -> str:
    """The FAERS case id of a `safetyreportid` (drops a legacy `-check digit`)."""
    head, sep, tail = safetyreportid.partition("-")
    if sep and head.isdigit() and tail.isdigit() and len(tail) <= 2:
        return head
    return safetyreportid


def drug_event_to_canonical(doc: dict[str, Any], *, location: str = "openfda") -> CanonicalReport:
    """Map one openFDA drug event; raises `SourceFormatError` on a malformed field."""
    if not isinstance(doc, dict):
        raise SourceFormatError("record is not a JSON object", location=location)
    rid = doc.get("safetyreportid")
    where = f"{location} safetyreportid={rid}" if rid else location
    d = _Doc(doc, where)
    report_id = d.text(doc, "safetyreportid", "safetyreportid")
    if not report_id:
        raise d.error("missing safetyreportid", "safetyreportid")
    version_raw = d.text(doc, "safetyreportversion", "safetyreportversion")
    try:
        version = int(version_raw) if version_raw else 0
    except ValueError:
        raise d.error(f"not an integer: {version_raw!r}", "safetyreportversion") from None

    serious_raw = d.text(doc, "serious", "serious")
    if serious_raw not in (None, "1", "2"):
        raise d.error(f"expected 1 or 2, got {serious_raw!r}", "serious")
    patient = d.obj(doc, "patient", "patient")

    age_raw = d.text(patient, "patientonsetage", "patient.patientonsetage")
    unit = d.text(patient, "patientonsetageunit", "patient.patientonsetageunit")
    if age_raw is not None:
        try:
            float(age_raw)
        except ValueError:
            raise d.error(f"not a number: {age_raw!r}", "patient.patientonsetage") from None
    age = age_in_years(age_raw, unit) if age_raw is not None and unit else None
    sex_raw = d.text(patient, "patientsex", "patient.patientsex")
    if sex_raw not in (None, "0", "1", "2"):
        raise d.error(f"expected 0, 1 or 2, got {sex_raw!r}", "patient.patientsex")
    sex = sex_code(sex_raw)

    received = d.date(doc, "receivedate", "receivedate") or d.date(
        doc, "receiptdate", "receiptdate"
    )
    primary = d.obj(doc, "primarysource", "primarysource")
    qualification = d.text(primary, "qualification", "primarysource.qualification")
    country = d.text(doc, "occurcountry", "occurcountry") or d.text(
        doc, "primarysourcecountry", "primarysourcecountry"
    )
    report = CanonicalReport(
        source=SOURCE,
        source_key=source_key(report_id),
        kind="drug",
        source_version=version,
        source_record_id=report_id,
        received=received,
        country=country.upper() if country else None,
        sex="M" if sex == "M" else "F" if sex == "F" else None,
        age_years=age,
        serious=None if serious_raw is None else serious_raw == "1",
        reporter_type=REPORTER_TYPES.get(qualification or ""),
        products=_products(d, patient),
        events=_events(d, patient),
    )
    for field_name, attr in SERIOUSNESS_FLAGS.items():
        setattr(report, attr, d.flag(doc, field_name, field_name))
    return report
