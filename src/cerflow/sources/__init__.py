"""Source clients and bulk readers: they yield source records untouched, with provenance."""
