"""FDA Structured Product Labels (HL7 SPL XML) -> openFDA `/drug/label.json` records.

    spl_to_label(xml_bytes, location=...) -> dict   # one label record, openFDA's shape

openFDA builds its drug label records from the SPL files of DailyMed (FDA/openfda,
`openfda/spl/`); this module applies the same rules so that a local replay of the label
endpoint and the bundled sample look like openFDA's answers:
- Each `<section>` is named by the LOINC code of its own `<code>` through openFDA's
  section table (`SECTION_NAMES`, from `openfda/spl/data/sections.csv`): the name is
  lower-cased, " & " becomes " and ", the first "/" becomes " or ", ":" is dropped and
  spaces become "_" ("Warnings and cautions" -> `warnings_and_cautions`). A section whose
  code is not in the table is `spl_unclassified_section`.
- The field holds a list: one string per section of that name, the section's whole text
  (its subsections included) with runs of whitespace collapsed to one space. An
  unclassified section directly inside another section is skipped (its text is already in
  the parent's); tables are also kept as HTML in `<field>_table`.
- `set_id`, `id`, `effective_time` (YYYYMMDD) and `version` come from the document header.
- The `openfda` block (harmonized names) is built by openFDA from other FDA files; here it
  holds `brand_name` and `generic_name` from the label's own product data elements
  (upper-cased, de-duplicated), which is what the harmonization yields for a brand label.

The XML is parsed with the standard library's expat parser, which fetches no external
entity and (expat >= 2.4.1, bundled with Python 3.11) limits entity expansion; input is
FDA's published SPL files.
"""

from __future__ import annotations

import re

# expat: no external entities, bounded expansion (see the module docstring)
import xml.etree.ElementTree as ET  # nosec B405
from typing import Any

from cerflow.sources.base import SourceFormatError

NS = "{urn:hl7-org:v3}"
UNCLASSIFIED = "spl_unclassified_section"

# LOINC section code -> openFDA section name (openfda/spl/data/sections.csv, FDA/openfda,
# CC0). Only the name rule above turns these into JSON field names.
_SECTIONS_CSV = """\
34086-9,Abuse
60555-0,Accessories
34084-4,Adverse Reactions
69761-5,Alarms
34091-9,Animal Pharmacology & or Toxicology
60556-8,Assembly or Installation Instructions
34066-1,Boxed Warning
60557-6,Calibration Instructions
34083-6,Carcinogenesis & Mutagenesis & Impairment of Fertility
60684-8,Cellular Therapy
34090-1,Clinical Pharmacology
60558-4,Cleaning, Disinfecting, and Sterilization Instructions
34092-7,Clinical Studies
69760-7,Compatible Accessories
60559-2,Components
34070-3,Contraindications
34085-1,Controlled Substance
34087-7,Dependence
34089-3,Description
69758-1,Diagram of Device
69763-1,Disposal and Waste Handling
34068-7,Dosage & Administration
43678-2,Dosage Forms & Strengths
34074-5,Drug & or Laboratory Test Interactions
42227-9,Drug Abuse and Dependence
34073-7,Drug Interactions
50742-6,Environmental Warning
50743-4,Food Safety Warning
34072-9,General Precautions
34082-8,Geriatric Use
50740-0,Guaranteed Analysis of Feed
71744-7,Health Care Provider Letter
69719-3,Health Claim
34069-5,How Supplied
51727-6,Inactive Ingredient
34067-9,Indications & Usage
50744-2,Information for Owners/Caregivers
34076-0,Information for Patients
59845-8,Instructions for Use
60560-0,Intended Use of the Device
34079-4,Labor & Delivery
34075-2,Laboratory Tests
43679-0,Mechanism of Action
49489-8,Microbiology
43680-8,Nonclinical Toxicology
34078-6,Nonteratogenic Effects
34080-2,Nursing Mothers
60561-8,Other Safety Information
34088-5,Overdosage
55106-9,Active Ingredient
50569-3,Ask Doctor
50568-5,Ask Doctor/Pharmacist
50570-1,Do Not Use
50565-1,Keep Out of Reach of Children
53414-9,Pregnancy or Breast Feeding
55105-1,Purpose
53413-1,Questions
50566-9,Stop Use
50567-7,When Using
51945-4,Package Label: Principal Display Panel
68498-5,Patient Medication Information
34081-0,Pediatric Use
43681-6,Pharmacodynamics
66106-6,Pharmacogenomics
43682-4,Pharmacokinetics
42232-9,Precautions
42228-7,Pregnancy
43683-2,Recent Major Changes
34093-5,References
53412-3,Residue Warning
69759-9,Risks
60562-6,Route, Method and Frequency of Administration
50741-8,Safe Handling Warning
48779-3,SPL Indexing Data Elements
48780-1,SPL Product Data Elements
42231-1,SPL Medguide
42230-3,SPL Patient Package Insert
42229-5,SPL Unclassified
69718-5,Statement of Identity
44425-7,Storage and Handling
60563-4,Summary of Safety and Effectiveness
34077-8,Teratogenic Effects
69762-3,Troubleshooting
43684-0,Use in Specific Populations
54433-8,User Safety Warnings
50745-9,Veterinary Indications
43685-7,Warnings and cautions
34071-1,Warnings
"""


def section_field(name: str) -> str:
    """openFDA's JSON field name for a section name ("Dosage & Administration" ->
    `dosage_and_administration`)."""
    out = name.replace(":", "", 1).replace(" & ", " and ").replace("/", " or ", 1)
    out = out.replace(" ", "_").lower()
    return out.replace("spl_unclassified", UNCLASSIFIED)


def _section_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for line in _SECTIONS_CSV.splitlines():
        # As openFDA reads the file: the name is the text up to the next comma.
        row = line.replace('"', "", 1).split(",")
        if len(row) >= 2:
            names[row[0].strip()] = section_field(row[1].strip())
    return names


SECTION_NAMES = _section_names()


def _own_text(elem: ET.Element) -> str:
    """Text of `elem` in document order, including its descendants' tails."""
    chunks: list[str] = []

    def walk(node: ET.Element) -> None:
        if node.tag == f"{NS}br":
            chunks.append(" ")
        if node.text:
            chunks.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                chunks.append(child.tail)

    walk(elem)
    return " ".join("".join(chunks).split())


def _table_html(table: ET.Element) -> str:
    ET.register_namespace("", NS[1:-1])
    return ET.tostring(table, encoding="unicode", short_empty_elements=True)


def spl_to_label(data: bytes, *, location: str) -> dict[str, Any]:
    """One openFDA label record from an SPL document (see the module docstring).

    Raises `SourceFormatError` (naming `location`) for XML that does not parse or is not
    an SPL document.
    """
    try:
        root = ET.fromstring(data)  # nosec B314
    except ET.ParseError as exc:
        raise SourceFormatError(f"not well-formed SPL XML: {exc}", location=location) from None
    if root.tag != f"{NS}document":
        raise SourceFormatError(
            f"not an HL7 SPL document (root element {root.tag!r})", location=location
        )
    out: dict[str, Any] = {}
    parents: dict[ET.Element, ET.Element] = {c: p for p in root.iter() for c in p}
    for section in root.iter(f"{NS}section"):
        code_el = section.find(f".//{NS}code")
        code = code_el.get("code") if code_el is not None else None
        name = SECTION_NAMES.get(code or "", UNCLASSIFIED)
        parent = parents.get(section)
        grand = parents.get(parent) if parent is not None else None
        nested = grand is not None and grand.tag == f"{NS}section"
        if name == UNCLASSIFIED and nested:
            continue
        out.setdefault(name, []).append(_own_text(section))
        for table in section.iter(f"{NS}table"):
            out.setdefault(f"{name}_table", []).append(_table_html(table))

    def attr(tag: str, key: str) -> str | None:
        el = root.find(f"{NS}{tag}")
        return el.get(key) if el is not None else None

    set_id = attr("setId", "root")
    if not set_id:
        raise SourceFormatError("SPL document has no setId", location=location, field="setId")
    out["set_id"] = set_id
    out["id"] = attr("id", "root")
    out["effective_time"] = attr("effectiveTime", "value")
    out["version"] = attr("versionNumber", "value")
    brands: list[str] = []
    generics: list[str] = []
    for product in root.iter(f"{NS}manufacturedProduct"):
        name_el = product.find(f"{NS}name")
        if name_el is not None and _own_text(name_el):
            _add(brands, _own_text(name_el))
        # The product's own generic name, not those of a kit's parts (alcohol pads...).
        for g in product.findall(f"{NS}asEntityWithGeneric/{NS}genericMedicine/{NS}name"):
            if _own_text(g):
                _add(generics, _own_text(g))
    out["openfda"] = {"brand_name": brands, "generic_name": generics}
    return out


def _add(items: list[str], value: str) -> None:
    value = re.sub(r"\s+", " ", value).strip().upper()
    if value and value not in items:
        items.append(value)
