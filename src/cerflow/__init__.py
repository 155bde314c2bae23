"""cerflow: Clinical Evaluation Reports from public post-market safety data."""

__version__ = "0.1.0"
