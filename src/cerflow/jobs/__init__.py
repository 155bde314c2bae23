"""Background jobs (ingest, analysis, reports)."""
