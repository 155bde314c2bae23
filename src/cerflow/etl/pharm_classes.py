"""Drugs' established pharmacologic classes (EPC) from openFDA drug event records.

openFDA harmonizes each drug of a `/drug/event` report with its SPL label and adds
`patient.drug[].openfda.pharm_class_epc` (e.g. ``HMG-CoA Reductase Inhibitor [EPC]``). The
drug peer comparison groups products by that class, so the ETL keeps, per normalized
product key (the same key `cerflow.etl.openfda_drug` stores the product under), the EPC
classes openFDA gave it. A drug without an `openfda` block (not harmonized) gives nothing:
its class is never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cerflow.etl.openfda_drug import _Doc, _product_key
from cerflow.sources.base import SourceFormatError, SourceRecord

CLASS_TYPE_EPC = "epc"
MAX_CLASS_NAME = 255


def classes_from_drug_event(
    doc: dict[str, Any], *, location: str = "openfda"
) -> set[tuple[str, str]]:
    """(product key, EPC class) pairs of one openFDA drug event document.

    Raises `SourceFormatError` naming the field when `pharm_class_epc` is not a list of
    strings (or a class name is longer than the store keeps).
    """
    if not isinstance(doc, dict):
        raise SourceFormatError("record is not a JSON object", location=location)
    d = _Doc(doc, location)
    patient = d.obj(doc, "patient", "patient")
    out: set[tuple[str, str]] = set()
    for i, drug in enumerate(d.items(patient, "drug", "patient.drug")):
        path = f"patient.drug[{i}]"
        openfda = d.obj(drug, "openfda", f"{path}.openfda")
        classes = d.strings(openfda, "pharm_class_epc", f"{path}.openfda.pharm_class_epc")
        if not classes:
            continue
        key = _product_key(d, drug, path)
        if not key:
            continue
        for name in classes:
            if len(name) > MAX_CLASS_NAME:
                raise d.error(
                    f"class name longer than {MAX_CLASS_NAME} characters",
                    f"{path}.openfda.pharm_class_epc",
                )
            out.add((key, name))
    return out


@dataclass
class ClassCollector:
    """Passes records through unchanged while collecting their (product key, class) pairs.

    Used by the openFDA import around the record stream of `/drug/event`, so the classes
    come from exactly the records that were loaded. A record whose class field is malformed
    contributes no class (the report mapper decides whether the record itself is refused).
    """

    pairs: set[tuple[str, str]] = field(default_factory=set)
    malformed: int = 0

    def tap(self, records: Iterable[SourceRecord]) -> Iterator[SourceRecord]:
        for rec in records:
            try:
                self.pairs |= classes_from_drug_event(rec.payload, location=rec.provenance.location)
            except SourceFormatError:
                self.malformed += 1
            yield rec
