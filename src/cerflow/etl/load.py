"""Idempotent upserts of canonical records into the store (being written; signature fixed).

    load_reports(engine, reports, provenance, *, source_stats=None, progress=None) -> LoadStats
    load_recalls(engine, recalls, provenance, *, source_stats=None, progress=None) -> LoadStats
    load_devices(engine, devices, provenance, *, source_stats=None, progress=None) -> LoadStats

One transaction per call: if the iterable raises (e.g. SourceFormatError) nothing is stored.
A `SourceSnapshot` row is written with the provenance and the counts.
"""
