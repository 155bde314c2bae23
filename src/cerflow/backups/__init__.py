"""Backups: the database and the published reports, with a checksummed manifest."""
