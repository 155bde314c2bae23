"""Logs and metrics shared by the API, the CLI and the workers."""
