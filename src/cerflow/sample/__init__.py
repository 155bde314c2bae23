"""The bundled offline sample: synthetic data in the real sources' formats.

`generate.generate()` writes it (seeded, deterministic) into `data/`, which ships in the
wheel so `make demo` needs no network; `cerflow.ingest.sample.ingest_sample()` loads it
through the real readers and ETL, marking every snapshot as generated.
"""

from cerflow.sample.generate import DEFAULT_SEED, SAMPLE_DIR, STATEMENT, generate, load_manifest

__all__ = ["DEFAULT_SEED", "SAMPLE_DIR", "STATEMENT", "generate", "load_manifest"]
