"""Readers' feedback on generated reports."""
