"""Hostile strings tried in every text field (see README.md)."""

from __future__ import annotations

INJECTIONS: dict[str, str] = {
    "sql": "' OR 1=1 --",
    "html": "<script>alert(1)</script>",
    "template": "{{7*7}}",
    "csv_formula": '=HYPERLINK("http://evil.example","x")',
    "path_traversal": "../../etc/passwd",
}
# Refused at the edge (request_guard) or by the field patterns: PostgreSQL cannot store NUL.
CONTROL: dict[str, str] = {
    "nul": "a\x00b",
    "escape": "a\x1b[31mb",
    "crlf": "a\r\nSet-Cookie: x=1",
}
HUGE_INT = 10**30
NEGATIVE_INT = -1
OUT_OF_RANGE_DATES = ["0000-01-01", "9999-12-32", "2021-02-30", "-2021-01-01", "99999-01-01"]
