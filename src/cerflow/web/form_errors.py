"""Pydantic validation errors as the messages a form shows beside its fields.

Every page that validates a posted form with a pydantic model needs the same mapping: the
first error of each top-level field, without pydantic's "Value error, " prefix (a writer
reads the sentence, not the exception type), with the page's own wording where the
generic message would not say how to fix it. Pages whose forms have nested fields (the
CER inputs) map errors to the nearest form field instead (`inputs_pages.field_errors`).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError


def first_errors(
    exc: ValidationError,
    *,
    prefix: str = "",
    messages: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """{prefix + field: message}, the first error of each field; "form" when an error names
    no field. ``messages`` replaces the generic text for the fields it names."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        field = loc[0] if loc else "form"
        message = (messages or {}).get(field) or str(err.get("msg", "invalid value"))
        out.setdefault(f"{prefix}{field}", message.removeprefix("Value error, "))
    return out
