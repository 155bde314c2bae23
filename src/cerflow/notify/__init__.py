"""Outbound notifications (e-mail)."""
