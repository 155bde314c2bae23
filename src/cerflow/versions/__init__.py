"""Report versions (draft -> approved, immutable once approved), their diff and the audit trail."""
