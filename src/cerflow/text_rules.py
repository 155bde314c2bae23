"""Which characters a text field of a request body may hold, as JSON Schema patterns.

The edge guard (`api.request_guard`) refuses control characters in paths and query strings;
bodies are checked per field by these patterns, so the OpenAPI document states the rule.
A NUL cannot be stored by PostgreSQL (it turned bad input into a 500), and the other C0
characters forge lines in logs and CSV exports or move the cursor in a terminal.
"""

from __future__ import annotations

# An identifier or name: no control character at all, and not blank. (The earlier
# `^[^\x00]*\S[^\x00]*$` let one NUL through: NUL is not whitespace, so `\S` matched it.)
IDENTIFIER = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
# Free text (a note): line breaks and tabs allowed, no other control character.
FREE_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
