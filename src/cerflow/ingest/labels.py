"""Drug label import: the openFDA label a report checks event terms against.

    result = ingest_label(engine, drug="atorvastatin", settings=settings)
    result = ingest_label(engine, set_id="c6e131fe-...", settings=settings)
    stats = load_label_file(engine, path, query=..., generated=True)   # the bundled sample

Which label (the rule, also kept in the snapshot's statistics): openFDA holds many labels
of one drug (the originator's, generics', repackagers'). The newest 100 labels naming the
drug are fetched; a candidate is a label whose drug key (`drug_key` of its first generic
name) equals the drug's key, or whose brand names include the name typed, and that has at
least one safety section (boxed warning, warnings and precautions, warnings, precautions,
adverse reactions). The candidate with the latest effective date is stored (then the
highest version, then the smallest set id). `--set-id` picks one label instead.
Combination products (`AMLODIPINE / ATORVASTATIN`) have another key and are never chosen
for a single drug. One transaction: a failure stores nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from cerflow.config import Settings
from cerflow.errors import CerflowError
from cerflow.etl.labels import SAFETY_SECTIONS, CanonicalLabel, label_to_canonical, load_labels
from cerflow.etl.load_common import LoadStats
from cerflow.ingest._base import IngestError, IngestInputError, ProgressCallback, step_advance
from cerflow.sources import openfda as ofda
from cerflow.sources.base import Provenance, SourceFormatError, sha256_file
from cerflow.sources.openfda_label import (
    DRUG_LABEL,
    MAX_LABELS,
    fetch_labels,
    label_search,
    set_id_search,
)
from cerflow.store.keys import drug_key

__all__ = ["LabelImport", "choose_label", "ingest_label", "load_label_file", "refresh_label"]

RULE = (
    "newest of the labels naming the drug whose generic-name key equals the drug's key (or "
    "whose brand name is the name given) and that have a safety section; latest effective "
    "date, then highest version, then smallest set id"
)


@dataclass(slots=True)
class LabelImport:
    """What one label import asked, found and stored."""

    query: str  # what the user gave: drug name or set id
    search: str  # the openFDA search sent
    matched: int  # labels openFDA matched
    fetched: int  # labels read (at most MAX_LABELS, newest first)
    candidates: int  # labels that qualify under the rule
    label: CanonicalLabel
    load: LoadStats


def choose_label(labels: list[CanonicalLabel], drug: str) -> tuple[CanonicalLabel | None, int]:
    """The label the rule picks for `drug` (see the module docstring) and the candidates."""
    key = drug_key(drug)
    typed = " ".join(drug.upper().split())
    candidates = [
        lb
        for lb in labels
        if (lb.product_key == key or typed in lb.brand_names)
        and any(lb.sections.get(s) for s in SAFETY_SECTIONS)
    ]
    if not candidates:
        return None, 0
    ordered = sorted(candidates, key=lambda lb: lb.set_id)
    best = max(
        ordered,
        key=lambda lb: (lb.effective_date or dt.date.min, lb.version or -1),
    )
    return best, len(candidates)


def ingest_label(
    engine: Engine,
    *,
    settings: Settings,
    drug: str | None = None,
    set_id: str | None = None,
    progress: ProgressCallback | None = None,
) -> LabelImport:
    """Fetch the drug's label from openFDA and store it (see the module docstring).

    Raises IngestInputError for a bad or unmatched request (nothing stored) and IngestError
    when openFDA fails or answers with a malformed record (nothing stored).
    """
    if bool(drug) == bool(set_id):
        raise IngestInputError("give either --drug NAME or --set-id SET_ID (one of them)")
    query = (drug or set_id or "").strip()
    try:
        search = label_search(query) if drug else set_id_search(query)
    except ValueError as exc:
        raise IngestInputError(f"cannot search openFDA labels for {query!r}: {exc}") from None
    advance = step_advance(progress, "drug label")
    try:
        with ofda.OpenFDAClient.from_settings(settings) as client:
            page = fetch_labels(client, search, limit=MAX_LABELS)
        labels = [
            label_to_canonical(doc, location=page.provenance.location) for doc in page.results
        ]
    except SourceFormatError as exc:
        raise IngestError(f"drug label: {exc}\nNothing was stored.", status_code=422) from exc
    except (ofda.OpenFDAError, httpx.HTTPError, OSError) as exc:
        raise IngestError(
            f"could not fetch drug labels from openFDA ({settings.openfda_base_url}): {exc}\n"
            "Nothing was stored; run the same command again later.",
            status_code=502,
        ) from exc
    advance(len(labels))
    if not labels:
        raise IngestInputError(
            f"openFDA has no drug label for {query!r} ({DRUG_LABEL}?search={search}); check "
            "the spelling, or use the generic name (e.g. 'atorvastatin' rather than a brand)"
        )
    chosen: CanonicalLabel | None = labels[0]
    candidates = 1
    if not set_id:
        chosen, candidates = choose_label(labels, query)
    if chosen is None:
        keys = sorted({lb.product_key for lb in labels})
        raise IngestInputError(
            f"openFDA has {page.total:,} labels matching {query!r}, but none of the "
            f"{len(labels)} newest is a label of {drug_key(query)!r} with a safety section "
            f"(their drugs: {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}); "
            "pick one with --set-id SET_ID. Nothing was stored."
        )
    source_stats: dict[str, Any] = {
        "endpoint": DRUG_LABEL,
        "search": search,
        "matched": page.total,
        "fetched": len(labels),
        "candidates": candidates,
        "rule": "set id given" if set_id else RULE,
        "set_id": chosen.set_id,
        "version": chosen.version,
        "effective_date": chosen.effective_date.isoformat() if chosen.effective_date else None,
    }
    provenance = dataclasses.replace(page.provenance, source="openfda_label", query=search)
    load = load_labels(engine, [chosen], provenance, source_stats=source_stats)
    return LabelImport(
        query=query,
        search=search,
        matched=page.total,
        fetched=len(labels),
        candidates=candidates,
        label=chosen,
        load=load,
    )


def refresh_label(
    engine: Engine,
    *,
    drug: str,
    settings: Settings,
    progress: ProgressCallback | None = None,
) -> tuple[LabelImport | None, str | None]:
    """Best effort before a report: the drug's label from openFDA, or why it was not fetched.

    A report does not fail for want of a label: it uses the label already stored, or says
    that none was checked. Returns (result, None) or (None, the reason).
    """
    try:
        return ingest_label(engine, settings=settings, drug=drug, progress=progress), None
    except CerflowError as exc:
        return None, str(exc)


def load_label_file(
    engine: Engine,
    path: Path,
    *,
    query: str,
    generated: bool = False,
    source_stats: dict[str, Any] | None = None,
) -> LoadStats:
    """Store every label of a saved `/drug/label.json` answer (`{"results": [...]}`).

    Used for the bundled sample; the file's sha256 is the snapshot's checksum.
    """
    location = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SourceFormatError(f"not valid JSON: {exc}", location=location) from exc
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise SourceFormatError(
            "expected an openFDA answer with a `results` list", location=location, field="results"
        )
    labels = [label_to_canonical(doc, location=location) for doc in data["results"]]
    provenance = Provenance(
        source="openfda_label",
        location=location,
        query=query,
        sha256=sha256_file(path),
        is_generated=generated,
    )
    return load_labels(
        engine,
        labels,
        provenance,
        source_stats={"endpoint": DRUG_LABEL, "meta": data.get("meta"), **(source_stats or {})},
    )
