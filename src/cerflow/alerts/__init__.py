"""Alerts raised by scheduled refreshes of watched products, and their delivery."""
