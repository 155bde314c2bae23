"""Literature review domain (issue 14): search protocols, searches, records, deduplication."""
