"""`python -m cerflow.cli ...`: the same app as the `cerflow` script (for images without it)."""

from cerflow.cli import app

app()
