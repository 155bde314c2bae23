"""The root of every error cerflow raises on purpose.

One root so the HTTP layer translates errors in one handler (`api/errors.py`) instead of a
try/except per endpoint, and the CLI prints them in one place. `status_code` is the HTTP
status the error means when it reaches a client; the message must say what went wrong,
where, and how to fix it, and never carry a secret.
"""

from __future__ import annotations


class CerflowError(Exception):
    """A failure the caller can understand and act on (bad input, missing data, conflict)."""

    status_code: int = 400
    retry_after: float | None = None  # seconds; sent as Retry-After (429, 503)

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code

    def __str__(self) -> str:
        return self.message


class NotFoundError(CerflowError):
    status_code = 404


class ConflictError(CerflowError):
    status_code = 409


class ForbiddenError(CerflowError):
    status_code = 403
