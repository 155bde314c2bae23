"""Load the bundled synthetic sample through the same readers, ETL and loader as real data.

Nothing here shortcuts the pipeline: FAERS zips go through `etl.faers_columnar` (the
columnar path, tested equal to `sources.faers_ascii` + `etl.faers`), MAUDE files through
`sources.maude_bulk` + `etl.maude`, the openFDA responses
through `etl.recalls`, the EUDAMED pages through `etl.eudamed`. The only differences from a
real import are that every `Provenance` says `is_generated=True` (so every snapshot, and
every report built on it, is marked synthetic) and that each file's sha256 is checked
against `manifest.json` first, so an edited sample is refused rather than reported on.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from cerflow.etl.eudamed import to_canonical_device
from cerflow.etl.faers_columnar import load_quarter, read_faers_frames
from cerflow.etl.load_common import LoadStats
from cerflow.etl.load_keyed import load_devices, load_recalls
from cerflow.etl.load_reports import load_reports
from cerflow.etl.maude import device_event_to_canonical
from cerflow.etl.recalls import device_recall_to_canonical, enforcement_to_canonical
from cerflow.etl.records import CanonicalDevice, CanonicalRecall, CanonicalReport
from cerflow.ingest._base import IngestError, ProgressCallback
from cerflow.ingest.labels import load_label_file
from cerflow.sample.generate import SAMPLE_DIR, STATEMENT, Manifest, load_manifest
from cerflow.sources.base import Provenance, SourceFormatError, SourceRecord, sha256_file
from cerflow.sources.maude_bulk import MaudeBulkReader
from cerflow.store.keys import drug_key
from cerflow.store.product_classes import save_classes

__all__ = ["SampleIntegrityError", "ingest_sample", "verify"]

RECALL_ENDPOINTS: dict[str, Callable[[dict[str, Any], str], CanonicalRecall]] = {
    "/device/recall.json": lambda doc, loc: device_recall_to_canonical(doc, location=loc),
    "/device/enforcement.json": lambda doc, loc: enforcement_to_canonical(
        doc, "device", location=loc
    ),
    "/drug/enforcement.json": lambda doc, loc: enforcement_to_canonical(doc, "drug", location=loc),
}


class SampleIntegrityError(IngestError):
    """The sample on disk is not the one its manifest describes; nothing is imported."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}\nNothing was imported.", status_code=422)

    status_code = 500


def verify(sample_dir: Path, manifest: Manifest) -> None:
    """Refuse a sample whose files are missing or changed since the manifest was written."""
    for entry in manifest["files"]:
        path = sample_dir / entry["path"]
        if not path.is_file():
            raise SampleIntegrityError(
                f"{path}: missing from the sample; regenerate it with `python -m cerflow.sample`"
            )
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise SampleIntegrityError(
                f"{path}: sha256 {digest[:12]}... differs from manifest.json "
                f"({entry['sha256'][:12]}...); the file was changed. Regenerate the sample "
                "with `python -m cerflow.sample` (and commit data/ with its manifest)."
            )


def _generated(provenance: Provenance, query: str) -> Provenance:
    return dataclasses.replace(provenance, is_generated=True, query=query)


def _step(progress: ProgressCallback | None, label: str) -> Callable[[int], None] | None:
    if progress is None:
        return None
    return lambda n: progress(label, n, None)


def _faers(
    engine: Engine, sample_dir: Path, manifest: Manifest, progress: ProgressCallback | None
) -> list[dict[str, Any]]:
    out = []
    for entry in manifest["faers"]["files"]:  # oldest quarter first
        path = sample_dir / entry["path"]
        frames = read_faers_frames(path)
        prov = _generated(frames.provenance, f"synthetic sample, FAERS quarter {entry['quarter']}")
        sample = dataclasses.replace(
            frames,
            provenance=prov,
            stats={**frames.stats, "generated": True, "statement": STATEMENT},
        )
        stats = load_quarter(engine, sample, _step(progress, path.name))
        out.append({"file": entry["path"], "reader": dict(frames.stats), **_load(stats)})
    return out


def _maude(
    engine: Engine, sample_dir: Path, manifest: Manifest, progress: ProgressCallback | None
) -> dict[str, Any]:
    paths = [sample_dir / entry["path"] for entry in manifest["maude"]["files"]]
    reader = MaudeBulkReader(paths)
    source_stats: dict[str, Any] = {"generated": True, "statement": STATEMENT}

    def reports() -> Iterator[CanonicalReport]:
        for record in reader:
            yield device_event_to_canonical(record.payload)
        source_stats.update(reader.stats.as_dict())

    stats = load_reports(
        engine,
        reports(),
        _generated(reader.provenance, "synthetic sample, MAUDE bulk files"),
        source_stats=source_stats,
        progress=_step(progress, "maude"),
    )
    return {"files": [e["path"] for e in manifest["maude"]["files"]], **_load(stats)}


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SourceFormatError(f"not valid JSON: {exc}", location=str(path)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("results", data.get("content")), list):
        raise SourceFormatError("expected an API response object", location=str(path))
    return data


def _recalls(
    engine: Engine, sample_dir: Path, manifest: Manifest, progress: ProgressCallback | None
) -> list[dict[str, Any]]:
    out = []
    for entry in manifest["recalls"]["files"]:
        path = sample_dir / entry["path"]
        mapper = RECALL_ENDPOINTS[entry["endpoint"]]
        data = _json(path)
        location = str(path)
        prov = Provenance(
            source=f"openfda:{entry['endpoint']}",
            location=location,
            query=f"synthetic sample, openFDA {entry['endpoint']} response",
            sha256=sha256_file(path),
            is_generated=True,
        )
        stats = load_recalls(
            engine,
            (mapper(doc, location) for doc in data["results"]),
            prov,
            source_stats={
                "endpoint": entry["endpoint"],
                "meta": data.get("meta"),
                "generated": True,
            },
            progress=_step(progress, path.name),
        )
        out.append({"file": entry["path"], **_load(stats)})
    return out


def _eudamed(
    engine: Engine, sample_dir: Path, manifest: Manifest, progress: ProgressCallback | None
) -> list[dict[str, Any]]:
    out = []
    for entry in manifest["eudamed"]["files"]:
        path = sample_dir / entry["path"]
        data = _json(path)
        prov = Provenance(
            source="eudamed_public",
            location=str(path),
            query=f"synthetic sample, EUDAMED device search for FDA product code "
            f"{entry['product_code']}",
            sha256=sha256_file(path),
            is_generated=True,
        )
        code = entry["product_code"]

        stats = load_devices(
            engine,
            _devices(data["content"], prov, code),
            prov,
            source_stats={"product_code": code, "generated": True, "statement": STATEMENT},
            progress=_step(progress, path.name),
        )
        out.append({"file": entry["path"], "product_code": code, **_load(stats)})
    return out


def _labels(engine: Engine, sample_dir: Path, manifest: Manifest) -> list[dict[str, Any]]:
    """The bundled drug label: real FDA text (not generated), so its snapshot is not marked
    generated and its query says where it was derived from (`cerflow.sample.labels`)."""
    out = []
    for entry in manifest.get("labels", {}).get("files", []):
        path = sample_dir / entry["path"]
        stats = load_label_file(
            engine,
            path,
            query=f"bundled sample: FDA drug label of {entry['drug']} ({entry['endpoint']} form)",
            generated=False,
            source_stats={"derived_from": entry.get("derived_from"), "sample": True},
        )
        out.append({"file": entry["path"], **_load(stats)})
    return out


def _pharm_classes(engine: Engine, sample_dir: Path, manifest: Manifest) -> list[dict[str, Any]]:
    """The derived class file (`cerflow.sample.pharm_classes`): drug key -> EPC classes."""
    out = []
    for entry in manifest.get("pharm_classes", {}).get("files", []):
        path = sample_dir / entry["path"]
        data = _json(path)
        pairs: set[tuple[str, str]] = set()
        for i, item in enumerate(data["results"]):
            name, classes = item.get("generic_name"), item.get("pharm_class_epc")
            if not isinstance(name, str) or not isinstance(classes, list):
                raise SourceFormatError(
                    "expected generic_name (text) and pharm_class_epc (list)",
                    location=str(path),
                    field=f"results[{i}]",
                )
            pairs |= {(drug_key(name), str(c)) for c in classes if drug_key(name)}
        new = save_classes(engine, pairs, source="sample:derived pharm_class_epc")
        out.append({"file": entry["path"], "classes": len(pairs), "new": new})
    return out


def _devices(items: list[Any], prov: Provenance, code: str) -> Iterator[CanonicalDevice]:
    for item in items:
        device = to_canonical_device(SourceRecord(kind="device", payload=item, provenance=prov))
        # EUDAMED has no FDA product codes; the sample links each page to one.
        yield dataclasses.replace(device, product_codes=[code])


def _load(stats: LoadStats) -> dict[str, Any]:
    return {"snapshot_id": stats.snapshot_id, **stats.as_dict()}


def ingest_sample(
    engine: Engine,
    *,
    progress: ProgressCallback | None = None,
    sample_dir: Path | None = None,
) -> dict[str, Any]:
    """Verify and load the whole sample; returns what each step read and stored.

    Re-running it stores nothing new (the loader's upserts find every record unchanged),
    though each run records its own snapshots, as any re-import does. Raises
    SampleIntegrityError (nothing imported) for a missing or edited sample, and IngestError
    for a file the readers refuse (files imported before it stay imported).
    """
    sample_dir = Path(sample_dir) if sample_dir is not None else SAMPLE_DIR
    try:
        manifest = load_manifest(sample_dir)
    except FileNotFoundError as exc:
        raise SampleIntegrityError(str(exc)) from exc
    try:
        return _ingest(engine, sample_dir, manifest, progress)
    except SourceFormatError as exc:
        raise IngestError(
            f"{exc}\nThe file being imported when this happened was not stored; files "
            "imported before it stay imported.",
            status_code=422,
        ) from exc


def _ingest(
    engine: Engine, sample_dir: Path, manifest: Manifest, progress: ProgressCallback | None
) -> dict[str, Any]:
    if manifest.get("generated") is not True:
        raise SampleIntegrityError(f"{sample_dir}/manifest.json does not mark the data generated")
    verify(sample_dir, manifest)
    result: dict[str, Any] = {
        "sample_dir": str(sample_dir),
        "statement": manifest["statement"],
        "seed": manifest["seed"],
        "faers": _faers(engine, sample_dir, manifest, progress),
        "maude": _maude(engine, sample_dir, manifest, progress),
        "recalls": _recalls(engine, sample_dir, manifest, progress),
        "eudamed": _eudamed(engine, sample_dir, manifest, progress),
        "labels": _labels(engine, sample_dir, manifest),  # real label text, not in totals
        "pharm_classes": _pharm_classes(engine, sample_dir, manifest),
    }
    steps = [*result["faers"], result["maude"], *result["recalls"], *result["eudamed"]]
    result["totals"] = {
        key: sum(step[key] for step in steps)
        for key in ("read", "inserted", "updated", "unchanged", "rejected")
    }
    return result
