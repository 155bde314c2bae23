"""Import orchestration: each source's fetch or read, ETL and load, with no terminal code.

One module per source (`openfda`, `faers`, `maude`, `eudamed`, `sample`) so the CLI, the job
runner and the API start the same import the same way and get the same result. Nothing here
prints, imports typer/click/rich or exits: progress goes through an optional
`ProgressCallback`, and a failure the caller should show raises an `IngestError` (a
`CerflowError`) whose message says what failed, what was (not) stored and how to go on.
"""

from cerflow.ingest._base import IngestError, IngestInputError, ProgressCallback

__all__ = ["IngestError", "IngestInputError", "ProgressCallback"]
