"""Source records -> canonical records (normalize, dedup) -> idempotent upserts into the store."""
